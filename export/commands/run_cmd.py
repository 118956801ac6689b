"""`vlmprune run`: answer one image question with the runtime (no torch, no transformers).

Imports only vlmprune.runtime (onnxruntime, numpy, pillow, tokenizers), so it works where
the builder's stack cannot be imported.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict

import click

from .options import json_option, manifest_option


@click.command("run")
@manifest_option
@click.argument("image", type=click.Path(dir_okay=False))
@click.argument("prompt")
@click.option("--task-hint", default=None, help="A dataset name, task type or variant name.")
@click.option(
    "--detect",
    is_flag=True,
    help="Without a hint: pick the variant from the prompt's detected task type.",
)
@click.option(
    "--strict", is_flag=True, help="Fail on an unknown hint instead of running the generic variant."
)
@click.option(
    "--max-new-tokens", type=click.IntRange(min=1), default=None, help="Default: the manifest's."
)
@click.option(
    "--fast",
    is_flag=True,
    help="Per-session weight prepacking (more memory) instead of shared, memory-mapped weights.",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="Skip the sha256 check of the files (presence is still checked).",
)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    help="onnxruntime execution provider, in order of preference (repeatable). Default: CPU.",
)
@json_option
def command(
    manifest_path: str,
    image: str,
    prompt: str,
    task_hint: str | None,
    detect: bool,
    strict: bool,
    max_new_tokens: int | None,
    fast: bool,
    no_verify: bool,
    providers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Answer PROMPT about IMAGE with the variant the hint selects (generic without one).

    \b
    Examples:
      vlmprune run --manifest variants/demo/manifest.json photo.png "What color is the circle?"
      vlmprune run --manifest variants/demo/manifest.json sign.png "What does the sign say?" --task-hint scene_text_qa
      vlmprune run --manifest variants/demo/manifest.json box.png "Read the code in the box." --detect --json
    """
    from ...runtime import Runtime, VlmRuntimeError

    error: VlmRuntimeError | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            runtime = Runtime.from_manifest(
                manifest_path,
                providers=list(providers) or None,
                share_weights=not fast,
                verify=not no_verify,
                max_resident=1,
            )
            result = runtime.generate(
                image,
                prompt,
                task_hint=task_hint,
                detect=detect,
                max_new_tokens=max_new_tokens,
                strict=strict,
            )
        except VlmRuntimeError as exc:
            error = exc
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    if error is not None:
        raise click.ClickException(str(error))
    if as_json:
        out = {
            "answer": result.text,
            "variant": result.variant,
            "reason": result.reason.value,
            "why": result.why,
            "tokens": list(result.tokens),
            "prompt_text": result.prompt_text,
            "timings_ms": {
                k: round(v, 3) for k, v in asdict(result.timings).items() if k.endswith("_ms")
            },
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(result.text)
    click.echo(result.why)
