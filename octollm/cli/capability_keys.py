"""``octollm keys capability``: the Ed25519 keyring that signs capability tokens.

    rotate          a new current key first, the previous one kept (tokens already minted
                    stay valid); creates the keyring when there is none
    show            the key ids, which one signs, and where the file is
    export-public   the public keyring for arm workers (OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE)

The file defaults to ``OCTOLLM_CAPABILITY__KEYS_FILE``, else ``<data_dir>/capability.jwks``
(the single-host keyring). After a rotation, copy the new public keyring to every worker host
before the old key's tokens run out: workers re-read a changed key file without a restart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from octollm.cli.admin import err, print_json
from octollm.config import get_settings
from octollm.security import keyring
from octollm.security.keyring import Keyring, KeyringError

app = typer.Typer(
    help="Capability-token signing keys (Ed25519): rotate, show, export-public.",
    no_args_is_help=True,
)

FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="The private keyring. Default: OCTOLLM_CAPABILITY__KEYS_FILE, else "
        "<data_dir>/capability.jwks.",
    ),
]


def _path(file: Path | None) -> Path:
    if file is not None:
        return file
    settings = get_settings()
    return settings.capability.keys_file or settings.data_dir / keyring.KEY_FILE


def _read(path: Path) -> Keyring:
    try:
        ring = keyring.read(path)
    except KeyringError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    return ring


@app.command()
def rotate(file: FileOpt = None) -> None:
    """Make a new signing key (the previous one keeps verifying); create the keyring if absent."""
    path = _path(file)
    if path.exists():
        old = _read(path)
        if old.signing is None:
            err.print(f"[red]{path} holds only public keys: rotate the private keyring[/red]")
            raise typer.Exit(1)
        ring = old.rotated()
    else:
        ring = Keyring.generate(str(path))
    keyring.write(path, ring.private_jwks(), private=True)
    err.print(
        f"{path}: signs with {ring.current_kid}; verifies {', '.join(ring.kids)}. Next: "
        "`octollm keys capability export-public -o capability.pub.jwks` and copy it to every "
        "worker host (OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE)."
    )
    print(ring.current_kid)


@app.command()
def show(
    file: FileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """The keyring's key ids, newest first, and which one signs."""
    path = _path(file)
    ring = _read(path)
    info = {
        "file": str(path),
        "signing_kid": ring.current_kid,
        "kids": ring.kids,
        "private": ring.signing is not None,
    }
    if as_json:
        print_json(info)
        return
    for kid in ring.kids:
        role = "signs + verifies" if kid == ring.current_kid else "verifies"
        print(f"{kid}  {role}")
    err.print(f"({path}{'' if ring.signing else ', public keys only'})")


@app.command("export-public")
def export_public(
    file: FileOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (0644) instead of stdout.")
    ] = None,
) -> None:
    """The public keyring for arm workers: every key id, no private part."""
    document = _read(_path(file)).public_jwks()
    if out is None:
        print(json.dumps(document, indent=2))
        return
    keyring.write(out, document, private=False)
    err.print(f"wrote {out}: set OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE={out} on worker hosts")
