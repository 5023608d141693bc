"""Batch files: the three formats, their line numbers, and one clear problem per bad line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagine.errors import ExitCode, UsageError
from imagine.workflow.batchfile import BatchEntry, BatchFile, BatchProblem, read_batch


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(batch: BatchFile) -> list[tuple[int, str]]:
    return [(problem.line, problem.message) for problem in batch.problems]


def only_problem(text: str, fmt: str = "jsonl") -> BatchProblem:
    batch = read_batch("-", text=text, fmt=fmt)
    assert batch.entries == ()
    assert len(batch.problems) == 1
    return batch.problems[0]


# --- txt ----------------------------------------------------------------------------------------


def test_txt_one_prompt_a_line_with_comments_and_blank_lines_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path, "jobs.txt", "# storyboard\n\n  a fox in snow  \n\t# later\nan owl at dusk\n"
    )

    batch = read_batch(str(path))

    assert batch.name == str(path)
    assert batch.format == "txt"
    assert batch.problems == ()
    assert [(e.line, e.mode, e.prompt) for e in batch.entries] == [
        (3, "gen", "a fox in snow"),
        (5, "gen", "an owl at dusk"),
    ]
    first = batch.entries[0]
    assert first.fields == {"prompt": "a fox in snow"}
    assert (first.duration, first.audio, first.n, first.refs, first.consent) == (
        None,
        None,
        1,
        (),
        False,
    )


def test_prompts_extension_is_txt_and_windows_line_endings_are_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "shots.prompts"
    path.write_bytes(b"a fox\r\n\r\nan owl\r\n")

    batch = read_batch(str(path))

    assert batch.format == "txt"
    assert [(e.line, e.prompt) for e in batch.entries] == [(1, "a fox"), (3, "an owl")]


def test_empty_file_is_a_valid_empty_batch(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.txt", "# nothing yet\n\n")

    assert read_batch(str(path)) == BatchFile(str(path), "txt", (), ())


# --- reading and choosing the format --------------------------------------------------------------


def test_stdin_is_sniffed_as_jsonl_when_the_first_real_line_is_an_object() -> None:
    batch = read_batch("-", text='# jobs\n\n{"prompt": "a fox"}\n')

    assert batch.name == "<stdin>"
    assert batch.format == "jsonl"
    assert [(e.line, e.prompt) for e in batch.entries] == [(3, "a fox")]


def test_stdin_is_sniffed_as_txt_otherwise() -> None:
    batch = read_batch("-", text="a fox {in} snow\n")

    assert batch.format == "txt"
    assert batch.entries[0].prompt == "a fox {in} snow"


def test_extensionless_file_is_sniffed(tmp_path: Path) -> None:
    jsonl = write(tmp_path, "jobs", '{"prompt": "a fox"}\n')
    txt = write(tmp_path, "prompts", "a fox\n")

    assert read_batch(str(jsonl)).format == "jsonl"
    assert read_batch(str(txt)).format == "txt"


def test_explicit_format_wins_over_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.txt", "prompt,duration\na fox,5\n")

    batch = read_batch(str(path), fmt="CSV")

    assert batch.format == "csv"
    assert batch.entries[0].duration == 5


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown batch format 'yaml': choose txt, jsonl or csv"):
        read_batch("-", text="a fox\n", fmt="yaml")


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_bytes("\ufeffprompt,duration\na fox,5\n".encode())

    batch = read_batch(str(path))

    assert batch.problems == ()
    assert batch.entries[0].prompt == "a fox"
    assert read_batch("-", text='\ufeff{"prompt": "an owl"}\n').format == "jsonl"


def test_missing_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"

    with pytest.raises(UsageError) as caught:
        read_batch(str(path))

    assert str(caught.value) == f"batch file {path} does not exist: check the path"
    assert caught.value.exit_code == ExitCode.USAGE


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory: pass a batch file"):
        read_batch(str(tmp_path))


def test_undecodable_bytes_are_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.txt"
    path.write_bytes(b"a fox\n\xff\xfe caf\xe9\n")

    with pytest.raises(UsageError, match=r"is not UTF-8 text \(bad byte at offset 6\)"):
        read_batch(str(path))


# --- jsonl --------------------------------------------------------------------------------------


def test_jsonl_malformed_line_among_good_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs.jsonl",
        '{"prompt": "a fox", "duration": 5}\n'
        "# a comment\n"
        '{"prompt": "an owl" "duration": 5}\n'
        "\n"
        '["not", "an", "object"]\n'
        '{"prompt": "a heron", "d": "6"}\n',
    )

    batch = read_batch(str(path))

    assert batch.format == "jsonl"
    assert [(e.line, e.prompt, e.duration) for e in batch.entries] == [
        (1, "a fox", 5),
        (6, "a heron", 6),
    ]
    assert problems(batch) == [
        (
            3,
            "not valid JSON (Expecting ',' delimiter at column 21): "
            'write one object a line, like {"prompt": "a fox in snow"}',
        ),
        (5, 'expected a JSON object like {"prompt": "a fox in snow"}, got a list'),
    ]


def test_jsonl_every_field_and_the_fields_kept_as_given() -> None:
    line = (
        '{"mode": "gen", "prompt": " a fox ", "image": "@last", "ref": ["a.png", "https://x/b.jpg"],'
        ' "duration": 10, "aspect": "9:16", "resolution": "720P", "model": "grok-imagine-video-1.5-preview",'
        ' "audio": false, "n": 3, "output": "shots/{slug}", "consent": "yes"}'
    )

    (entry,) = read_batch("-", text=line).entries

    assert entry == BatchEntry(
        line=1,
        mode="gen",
        prompt="a fox",
        image="@last",
        refs=("a.png", "https://x/b.jpg"),
        duration=10,
        aspect="9:16",
        resolution="720p",
        model="grok-imagine-video-1.5",
        audio=False,
        n=3,
        output="shots/{slug}",
        consent=True,
        fields=entry.fields,
    )
    assert entry.fields["prompt"] == " a fox "
    assert entry.fields["ref"] == ["a.png", "https://x/b.jpg"]


@pytest.mark.parametrize(
    ("field", "value", "attribute", "expected"),
    [
        ("d", 4, "duration", 4),
        ("a", "1:1", "aspect", "1:1"),
        ("aspect_ratio", "1:1", "aspect", "1:1"),
        ("Aspect-Ratio", "1:1", "aspect", "1:1"),
        ("r", "720p", "resolution", "720p"),
        ("m", "grok-imagine-video", "model", "grok-imagine-video"),
        ("variations", 2, "n", 2),
        ("n", "2", "n", 2),
        ("o", "x/{slug}", "output", "x/{slug}"),
        ("name", "x", "output", "x"),
        ("ref", "one.png", "refs", ("one.png",)),
        ("reference_images", "data:image/png;base64,AAAA", "refs", ("data:image/png;base64,AAAA",)),
        ("no_audio", True, "audio", False),
        ("no-audio", "no", "audio", True),
    ],
)
def test_jsonl_aliases(field: str, value: object, attribute: str, expected: object) -> None:
    line = json.dumps({"prompt": "a fox", field: value})

    batch = read_batch("-", text=line)

    assert batch.problems == ()
    assert getattr(batch.entries[0], attribute) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("false", False),
        ('"yes"', True),
        ('"No"', False),
        ('"1"', True),
        ("0", False),
        ("null", None),
    ],
)
def test_booleans(value: str, expected: bool | None) -> None:
    batch = read_batch("-", text=f'{{"prompt": "a fox", "audio": {value}}}')

    assert batch.problems == ()
    assert batch.entries[0].audio is expected


def test_bad_boolean() -> None:
    problem = only_problem('{"prompt": "a fox", "consent": "maybe"}')

    assert problem.message == "consent must be true or false (or yes/no, 1/0), got 'maybe'"


def test_unknown_field_suggests_the_closest_known_one() -> None:
    text = '{"prompt": "a fox"}\n{"prompt": "an owl", "durration": 5}\n{"prompt": "x", "colour": 1}'

    batch = read_batch("-", text=text)

    assert [e.line for e in batch.entries] == [1]
    assert problems(batch) == [
        (2, "unknown field 'durration': did you mean 'duration'?"),
        (
            3,
            "unknown field 'colour': known fields are prompt, mode, image, refs, video, duration, "
            "aspect, resolution, model, audio, no_audio, n, output, consent, template, vars, "
            "keyframes, last_frame, voices, store",
        ),
    ]


def test_bad_duration_and_aspect_use_the_config_messages_without_the_line() -> None:
    text = (
        '{"prompt": "a", "duration": 16}\n'
        '{"prompt": "a", "aspect": "5:4"}\n'
        '{"prompt": "a", "d": "eight"}\n'
        '{"prompt": "a", "resolution": "4k"}\n'
        '{"prompt": "a", "model": "grok-2"}\n'
    )

    batch = read_batch("-", text=text)

    assert problems(batch) == [
        (1, "duration 16 is out of range: the API accepts 1 to 15 seconds"),
        (
            2,
            "aspect ratio '5:4' is not supported: choose one of 1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3",
        ),
        (3, "duration: expected a whole number, got 'eight'"),
        (4, "resolution '4k' is not supported: choose one of 480p, 720p, 1080p"),
        (
            5,
            "unknown model 'grok-2': choose grok-imagine-video, grok-imagine-video-1.5 "
            "(see `imagine models`)",
        ),
    ]


def test_bad_output_template_is_caught() -> None:
    problem = only_problem('{"prompt": "a fox", "output": "renders/{colour}"}')

    assert problem.message.startswith("unknown field {colour} in output template")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "a", "n": 0}', "n must be a whole number from 1 to 16, got 0"),
        (
            '{"prompt": "a", "variations": 17}',
            "variations must be a whole number from 1 to 16, got 17",
        ),
        ('{"prompt": "a", "n": "two"}', "n must be a whole number from 1 to 16, got 'two'"),
        ('{"prompt": "a", "n": true}', "n must be a whole number from 1 to 16, got True"),
        ('{"prompt": "a", "mode": "remix"}', "unknown mode 'remix': choose gen, edit or extend"),
        ('{"prompt": "   "}', "the prompt is empty: say what to render, e.g. a fox in snow"),
        ('{"prompt": 7}', "prompt must be text, got a number"),
        ('{"image": {"url": "x"}}', "image must be text, got an object"),
        (
            '{"duration": 5}',
            "the prompt is missing: say what to render (or give an image to animate)",
        ),
        (
            '{"prompt": "a", "video": "clip.mp4"}',
            "video cannot be used with mode gen: set mode to edit or extend to change a video",
        ),
        (
            '{"mode": "edit", "prompt": "make it snow"}',
            "mode edit needs a video: a path or a job reference like @last",
        ),
        (
            '{"mode": "extend", "video": "@last"}',
            "mode extend needs a prompt: say what happens next",
        ),
        (
            '{"mode": "edit", "video": "@2", "prompt": "x", "d": 5, "image": "a.png"}',
            "d, image cannot be used with mode edit: an edit keeps the input video's length, "
            "aspect and resolution and takes no images",
        ),
        (
            '{"mode": "extend", "video": "@2", "prompt": "x", "aspect": "1:1"}',
            "aspect cannot be used with mode extend: an extension keeps the input video's aspect "
            "and resolution and takes no images",
        ),
        (
            '{"prompt": "a", "duration": 5, "d": 6}',
            "'duration' and 'd' set the same thing: keep one",
        ),
        (
            '{"prompt": "a", "audio": true, "no_audio": true}',
            "'audio' and 'no_audio' set the same thing: keep one",
        ),
        ('{"prompt": "a", "prompt": "b"}', "'prompt' is given twice: keep one"),
        (
            '{"prompt": "a", "refs": [1]}',
            "refs must list paths, URLs or job references, got a number",
        ),
    ],
)
def test_entry_problems(line: str, message: str) -> None:
    assert only_problem(line) == BatchProblem(1, message)


def test_edit_and_extend_entries() -> None:
    text = (
        '{"mode": "edit", "video": "clip.mp4", "prompt": "make it snow", "consent": true}\n'
        '{"mode": "Extend", "video": "@last", "prompt": "the fox runs on", "duration": 4}\n'
        '{"image": "fox.png"}\n'
    )

    edit, extend, animate = read_batch("-", text=text).entries

    assert (edit.mode, edit.video, edit.prompt, edit.consent) == (
        "edit",
        "clip.mp4",
        "make it snow",
        True,
    )
    assert (extend.mode, extend.video, extend.duration) == ("extend", "@last", 4)
    assert (animate.mode, animate.prompt, animate.image) == ("gen", None, "fox.png")


def test_more_than_fourteen_refs_is_a_problem() -> None:
    refs = ", ".join(f'"r{i}.png"' for i in range(15))

    problem = only_problem(f'{{"prompt": "a", "refs": [{refs}]}}')

    assert problem.message == (
        "Too many reference images: 15. Maximum allowed is 14. Keep at most 14 in refs."
    )


def test_duplicate_entries_are_not_problems() -> None:
    batch = read_batch("-", text="a fox\na fox\n")

    assert [e.line for e in batch.entries] == [1, 2]
    assert batch.problems == ()
    assert len({batch.entries[0], batch.entries[1]}) == 2  # entries are hashable


# --- csv ----------------------------------------------------------------------------------------


def test_csv_rows_with_header_aliases_empty_cells_and_comments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs.csv",
        " Prompt ,D,Aspect_Ratio,REFS,audio\n"
        "a fox in snow,5,,a.png; b.png|@3,no\n"
        "\n"
        "# skipped,99\n"
        ",,,,\n"
        "an owl,,9:16,,\n",
    )

    batch = read_batch(str(path))

    assert batch.format == "csv"
    assert batch.problems == ()
    fox, owl = batch.entries
    assert (fox.line, fox.prompt, fox.duration, fox.aspect, fox.refs, fox.audio) == (
        2,
        "a fox in snow",
        5,
        None,
        ("a.png", "b.png", "@3"),
        False,
    )
    assert fox.fields == {
        "Prompt": "a fox in snow",
        "D": "5",
        "REFS": "a.png; b.png|@3",
        "audio": "no",
    }
    assert (owl.line, owl.duration, owl.aspect, owl.audio) == (6, None, "9:16", None)


def test_csv_multiline_quoted_cell_reports_the_rows_first_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs.csv",
        'prompt,duration\n"a fox,\nin snow\nat dawn",5\n"an owl\nat dusk",20\nheron,3\n',
    )

    batch = read_batch(str(path))

    assert [(e.line, e.prompt) for e in batch.entries] == [
        (2, "a fox,\nin snow\nat dawn"),
        (7, "heron"),
    ]
    assert problems(batch) == [(5, "duration 20 is out of range: the API accepts 1 to 15 seconds")]


def test_csv_row_with_more_cells_than_the_header() -> None:
    batch = read_batch("-", text="prompt,duration\na fox, in snow,5\nan owl,5,,\n", fmt="csv")

    assert [e.line for e in batch.entries] == [3]  # empty trailing cells are harmless
    assert problems(batch) == [
        (
            2,
            "row has 3 cells but the header names 2 columns: "
            "put cells that contain commas in double quotes",
        )
    ]


def test_csv_unknown_column_is_reported_once_on_the_header() -> None:
    batch = read_batch("-", text="# jobs\nprompt,durration\na fox,5\nan owl,6\n", fmt="csv")

    assert batch.entries == ()
    assert problems(batch) == [
        (
            2,
            "header row: unknown field 'durration': did you mean 'duration'? "
            "(the first row names the columns)",
        )
    ]


def test_csv_broken_quoting_is_a_problem_and_later_rows_still_count() -> None:
    batch = read_batch("-", text='prompt,n\n"a "fox" in snow",2\nan owl,3\n', fmt="csv")

    assert [(e.line, e.n) for e in batch.entries] == [(3, 3)]
    assert problems(batch)[0][0] == 2
    assert problems(batch)[0][1].startswith("not valid CSV (',' expected after '\"')")


def test_csv_edit_rows_need_an_explicit_mode() -> None:
    text = "mode,video,prompt,consent\nedit,clip.mp4,make it snow,1\n,clip.mp4,make it rain,\n"

    batch = read_batch("-", text=text, fmt="csv")

    assert [(e.line, e.mode, e.consent) for e in batch.entries] == [(2, "edit", True)]
    assert problems(batch) == [
        (3, "video cannot be used with mode gen: set mode to edit or extend to change a video")
    ]


def test_csv_crlf_inside_a_quoted_cell_becomes_a_plain_line_break() -> None:
    batch = read_batch("-", text='prompt,d\r\n"a fox\r\nin snow",5\r\nan owl,3\r\n', fmt="csv")

    assert [(e.line, e.prompt) for e in batch.entries] == [(2, "a fox\nin snow"), (4, "an owl")]


def test_unknown_field_suggests_a_field_it_abbreviates() -> None:
    problem = only_problem('{"prompt": "a fox", "dur": 5}')

    assert problem.message == "unknown field 'dur': did you mean 'duration'?"


def test_stdin_without_its_text_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="pass it as text"):
        read_batch("-")
