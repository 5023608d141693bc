"""The rules imagine ships: always on (standard), and the age-appropriate ones `--policy strict`
adds. They are word lists, not a classifier: they catch the plain and the lightly disguised
request, and the provider's own moderation stays the last word (docs/policy.md says what they
cannot catch)."""

from __future__ import annotations

from imagine.rules.ruleset import SHIPPED, SHIPPED_STRICT, Rule, make_rule

SEXUAL = (
    "nude", "nudes", "naked", "nudity", "sex", "sexy", "sexual*", "sexualis*", "sexualiz*",
    "erotic*", "porn*", "nsfw", "xxx", "lingerie", "topless", "bottomless",
    "undress*", "striptease", "stripping", "seductive*", "sensual", "fetish*", "orgasm*",
    "genital*", "breasts", "nipple*", "onlyfans", "lewd", "hentai", "intercourse",
)  # fmt: skip
MINOR_CUES = (
    "child", "children", "childlike", "kid", "kids", "minor", "minors", "underage", "under age",
    "teen", "teens", "teenage*", "preteen*", "pre teen*", "tween", "tweens", "loli", "lolis",
    "lolita", "shota", "infant", "toddler", "baby", "little girl", "little boy", "young girl",
    "young boy", "schoolgirl", "schoolboy", "school girl", "school boy", "middle school*",
    "elementary school*", "high school*", "highschool*", "junior high", "jailbait", "pubescent",
    "prepubescent", "daughter", "son", "niece", "nephew", "stepdaughter", "stepson",
)  # fmt: skip
# An age under 18 written out: "15 year old", "12yo", "aged 9".
MINOR_AGE = (
    r"(?<!\d)(?:1[0-7]|[1-9]) ?(?:yo|y o|yr olds?|years? olds?|years? of age)(?!\w)",
    r"(?<!\w)aged? (?:1[0-7]|[1-9])(?!\d)",
)
HUMILIATING = (
    "humiliat*", "degrad*", "naked", "nude", "nudes", "undress*", "sex", "sexual*", "sexy",
    "porn*", "erotic*", "lingerie", "topless", "in underwear", "in her underwear",
    "in his underwear", "peeing", "pooping", "soiling", "vomiting on", "spitting on",
    "beaten up", "being beaten", "tortured", "fetish*", "diaper*",
)  # fmt: skip
# Cues that a real person is meant. No list can name everyone: these are the commonest ways
# of saying it, and a few names that are asked for most (docs/policy.md: limits).
REAL_PERSON_CUES = (
    "real person", "real people", "real life person", "actual person", "celebrity*",
    "celeb", "celebs", "famous", "actress", "actor", "politician*", "president", "prime minister",
    "senator", "congressman", "congresswoman", "governor", "mayor", "influencer*", "youtuber*",
    "streamer*", "tiktoker*", "singer", "rapper", "popstar", "pop star", "athlete", "footballer",
    "my ex", "my ex wife", "my ex girlfriend", "my ex boyfriend", "my coworker*",
    "my co worker*", "my colleague*", "my boss", "my teacher", "my neighbour", "my neighbor",
    "my classmate*", "my sister in law", "my friend", "my girlfriend", "my boyfriend",
    "this person", "the person in the photo", "the woman in the photo", "the man in the photo",
    "taylor swift", "beyonce", "rihanna", "billie eilish", "ariana grande", "selena gomez",
    "kim kardashian", "kylie jenner", "emma watson", "scarlett johansson", "jennifer lawrence",
    "margot robbie", "zendaya", "sydney sweeney", "jenna ortega", "millie bobby brown",
    "donald trump", "trump", "joe biden", "biden", "kamala harris", "barack obama", "obama",
    "hillary clinton", "elon musk", "mark zuckerberg", "vladimir putin", "putin", "xi jinping",
    "volodymyr zelensky", "zelensky", "king charles", "pope francis", "greta thunberg",
)  # fmt: skip
UNDRESSING = (
    "undress*", "unclothe*", "nudify*", "nudifie*", "declothe*", "de clothe*", "x ray clothes",
    "xray clothes", "see through clothes", "see through her clothes", "see through his clothes",
    "without clothes", "without her clothes", "without his clothes", "without their clothes",
    "without clothing", "with no clothes", "clothes off", "clothing off", "make her naked",
    "make him naked", "make them naked", "make her nude", "make him nude", "make them nude",
)  # fmt: skip
UNDRESSING_PHRASES = (
    r"(?<!\w)(?:remove|removing|removes|take off|taking off|takes off|strip|stripping|strip off|"
    r"peel off|erase|erasing|delete|get rid of) (?:all )?(?:of )?(?:her|his|their|the|its|"
    r"your|my|this person s|the woman s|the man s|the girl s|the boy s)? ?"
    r"(?:clothes|clothing|outfit|dress|shirt|top|bra|underwear|panties|bikini|swimsuit)(?!\w)",
    r"(?<!\w)strip (?:her|him|them)(?: naked| bare| down)?(?!\w)",
)
IMPERSONATION = (
    r"(?<!\w)deep ?fakes?(?!\w)",
    r"(?<!\w)(?:fake|fabricated|forged) (?:announcement|statement|speech|confession|"
    r"endorsement|press conference|news (?:report|broadcast|clip)|evidence|footage|"
    r"interview|apology)(?!\w)",
    r"(?<!\w)(?:pass (?:it|this) off as|so (?:people|viewers|everyone) (?:will )?(?:think|believe)|"
    r"to (?:fool|trick|deceive|mislead) (?:people|viewers|voters|everyone|my)|"
    r"make (?:people|viewers|everyone) (?:think|believe))(?!\w)",
    r"(?<!\w)(?:pretending|pretends|pretend) to be (?:the )?(?:real|actual)(?!\w)",
    r"(?<!\w)impersonat\w* (?:a |the )?(?:real|actual|ceo|bank|police|official|president)(?!\w)",
)

STANDARD: tuple[Rule, ...] = (
    make_rule(
        "minors-sexual",
        "sexual content involving minors",
        source=SHIPPED,
        words=SEXUAL,
        also=MINOR_CUES,
        also_regex=MINOR_AGE,
    ),
    make_rule(
        "real-people-sexual",
        "sexual or humiliating content of real people",
        source=SHIPPED,
        words=HUMILIATING,
        also=REAL_PERSON_CUES,
    ),
    make_rule(
        "undressing",
        "removing clothing",
        source=SHIPPED,
        words=UNDRESSING,
        regex=UNDRESSING_PHRASES,
    ),
    make_rule(
        "impersonation",
        "impersonation meant to deceive",
        source=SHIPPED,
        regex=IMPERSONATION,
    ),
)

STRICT_SEXUAL = (
            *SEXUAL, "bikini", "underwear", "cleavage", "provocative*", "kinky", "bdsm",
            "make out", "making out", "twerk*", "strip club", "stripper*", "pole dance*",
)  # fmt: skip

VIOLENCE = (
            "gore", "gory", "bloody", "blood*", "dismember*", "decapitat*", "behead*",
            "mutilat*", "disembowel*", "corpse*", "dead body", "dead bodies", "torture*",
            "massacre*", "murder*", "execution", "shooting people", "stabbing", "stabbed",
)  # fmt: skip

SELF_HARM = (
            "suicide", "suicidal", "kill himself", "kill herself", "kill themselves",
            "kill myself", "self harm", "selfharm", "cutting herself", "cutting himself",
            "hanging himself", "hanging herself", "overdose*", "anorexi*", "bulimi*",
)  # fmt: skip

DRUGS = (
            "cocaine", "heroin", "meth", "methamphetamine", "crack pipe", "lsd", "mdma",
            "ecstasy pill*", "weed", "marijuana", "joint", "bong", "vape*", "vaping", "smoking",
            "cigarette*", "drunk", "beer", "vodka", "whiskey", "wine", "shots of", "getting high",
            "snorting", "injecting",
)  # fmt: skip

# --policy strict: for products that may serve teens. Each adds a category the standard rules
# leave to the provider's moderation.
STRICT: tuple[Rule, ...] = (
    make_rule(
        "strict-sexual",
        "sexual or suggestive content",
        source=SHIPPED_STRICT,
        words=STRICT_SEXUAL,
    ),
    make_rule(
        "strict-violence",
        "graphic violence",
        source=SHIPPED_STRICT,
        words=VIOLENCE,
    ),
    make_rule(
        "strict-self-harm",
        "self-harm",
        source=SHIPPED_STRICT,
        words=SELF_HARM,
    ),
    make_rule(
        "strict-drugs",
        "drugs, alcohol and tobacco",
        source=SHIPPED_STRICT,
        words=DRUGS,
    ),
    make_rule(
        "strict-hate",
        "hateful symbols",
        source=SHIPPED_STRICT,
        words=("swastika*", "nazi salute", "kkk", "ku klux klan", "white power", "hate symbol*"),
    ),
)
