"""Preview, then final: `--preview` renders short and cheap, `imagine promote` renders the final of
the chosen take, linked to its preview both ways in the ledger and both sidecars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, read_jobs, sim_stats


def _promote(cli: Cli, sim: Any, *args: str) -> Any:
    # No --base-url: the final goes where its preview went.
    return cli.run("promote", *args, env={"XAI_API_KEY": sim.api_key})


def _sidecar_of(row: Any) -> dict[str, Any]:
    return dict(json.loads(Path(row["sidecar_path"]).read_text()))


def test_a_preview_is_short_and_cheap_and_remembers_the_final(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.gen(sim, "a fox in snow", "--preview", "-r", "720p", "-d", "8")
    assert result.exit_code == 0, result.stderr
    (row,) = read_jobs(imagine_home)
    assert (row["resolution"], row["duration"], row["preview"]) == ("480p", 3, 1)
    assert json.loads(row["params_json"])["final_options"] == {"duration": 8, "resolution": "720p"}
    assert row["cost_estimate_usd"] == pytest.approx(0.15)  # 3 s at 480p, not 8 s at 720p
    side = _sidecar_of(row)
    assert side["preview"] is True and side["final"] is None


def test_preview_then_promote_links_both_ways(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    (project / "imagine.toml").write_text(
        '[templates.ad]\nversion = 3\ntext = "{prompt}, 35mm film"\n'
    )
    made = cli.gen(sim, "a fox", "-t", "ad", "-n", "3", "--preview", "-r", "720p", "-d", "4")
    assert made.exit_code == 0, made.stderr
    promoted = _promote(cli, sim, "@2")
    assert promoted.exit_code == 0, promoted.stderr
    assert "final of preview #2: grok-imagine-video, 720p, 4 s; estimated cost $0.28" in (
        promoted.stderr
    )

    *previews, final = read_jobs(imagine_home)
    chosen = previews[1]
    assert final["preview_of"] == chosen["id"] and final["preview"] == 0
    assert (final["resolution"], final["duration"]) == ("720p", 4)
    assert final["prompt"] == "a fox" and final["prompt_sent"] == "a fox, 35mm film"
    assert (final["template_name"], final["template_version"]) == ("ad", 3)
    assert final["variation"] == chosen["variation"] == 2
    assert json.loads(chosen["params_json"])["final"] == final["id"]
    assert final["status"] == "complete"

    final_side, preview_side = _sidecar_of(final), _sidecar_of(chosen)
    assert final_side["preview_of"] == chosen["id"] and final_side["preview"] is False
    assert final_side["template"] == {"name": "ad", "version": 3}
    assert preview_side["final"] == final["id"] and preview_side["preview"] is True
    assert _sidecar_of(previews[0])["final"] is None  # the other takes stay unlinked


def test_promoting_twice_renders_once(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    assert cli.gen(sim, "an owl at dusk", "--preview", "-d", "2").exit_code == 0
    assert _promote(cli, sim, "@last").exit_code == 0
    again = _promote(cli, sim, "@1")
    assert again.exit_code == 0, again.stderr
    assert "already rendered" in again.stderr
    assert sim_stats(sim)["submissions"] == 2  # the preview and one final
    assert len(read_jobs(imagine_home)) == 2


def test_promote_changes_resolution_duration_and_model_when_asked(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    assert cli.gen(sim, "a lighthouse", "--preview", "-a", "9:16").exit_code == 0
    final_args = ("-r", "1080p", "-d", "5", "-m", "grok-imagine-video-1.5")
    refused = _promote(cli, sim, "@1", *final_args)  # $1.25: above confirm_above_usd
    assert refused.exit_code == 5 and "Pass --yes" in refused.stderr
    result = _promote(cli, sim, "@1", *final_args, "--yes")
    assert result.exit_code == 0, result.stderr
    _, final = read_jobs(imagine_home)
    assert (final["resolution"], final["duration"]) == ("1080p", 5)
    assert final["model"] == "grok-imagine-video-1.5"
    assert final["aspect_ratio"] == "9:16"  # kept from the preview


def test_preview_settings_are_configurable(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    (project / "imagine.toml").write_text('preview_resolution = "720p"\npreview_duration = 2\n')
    assert cli.gen(sim, "a heron", "--preview").exit_code == 0
    (row,) = read_jobs(imagine_home)
    assert (row["resolution"], row["duration"]) == ("720p", 2)
    assert json.loads(row["params_json"])["final_options"] == {"duration": 8, "resolution": "480p"}


def test_only_a_preview_is_promoted_and_a_refused_final_sends_nothing(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    assert cli.gen(sim, "a river", "-d", "1").exit_code == 0
    plain = _promote(cli, sim, "@1")
    assert plain.exit_code == 2 and "is not a preview" in plain.stderr
    assert cli.gen(sim, "a river", "--preview").exit_code == 0
    refused = _promote(cli, sim, "@2", "-r", "1080p")  # not on the base model
    assert refused.exit_code == 2 and "1080p is only available" in refused.stderr
    assert "estimated cost" not in refused.stderr
    assert sim_stats(sim)["submissions"] == 2
    assert len(read_jobs(imagine_home)) == 2


def test_a_promote_dry_run_shows_the_final_request_and_sends_nothing(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    assert cli.gen(sim, "a kite", "--preview", "-r", "720p").exit_code == 0
    result = cli.run("promote", "@1", "--dry-run")  # no key needed
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["resolution"], body["duration"], body["prompt"]) == ("720p", 8, "a kite")
    assert sim_stats(sim)["submissions"] == 1
    assert len(read_jobs(imagine_home)) == 1


def test_batch_previews_every_line(cli: Cli, sim: Any, project: Path, imagine_home: Path) -> None:
    (project / "jobs.txt").write_text("a fox\nan owl\n")
    result = cli.run(
        "batch", "jobs.txt", "--preview", "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key}
    )
    assert result.exit_code == 0, result.stderr
    assert [(r["preview"], r["duration"]) for r in read_jobs(imagine_home)] == [(1, 3), (1, 3)]


def test_the_final_sends_the_same_input_and_refuses_one_changed_since(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    from imagine.media.synth import write_image

    still = project / "still.png"
    write_image(still, width=320, height=240, fmt="png", seed=1)
    assert cli.gen(sim, "the leaves fall", "--image", "still.png", "--preview").exit_code == 0
    assert _promote(cli, sim, "@1", "-d", "2").exit_code == 0
    preview, final = read_jobs(imagine_home)
    sent = [json.loads(row["inputs_json"])[0]["sha256"] for row in (preview, final)]
    assert sent[0] == sent[1] and final["mode"] == "image"

    write_image(still, width=320, height=240, fmt="png", seed=2)
    changed = _promote(cli, sim, "@1", "-d", "3")
    assert changed.exit_code == 2
    assert "has changed since the preview" in changed.stderr
    assert sim_stats(sim)["submissions"] == 2
