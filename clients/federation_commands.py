"""``yihao federation ...``: a region's federation identity and its published card, and the
two-region demo on one machine (server-side commands, run where the region's files are)."""

from __future__ import annotations

import json

from clients.cli_args import Sub, command, group
from clients.commands import Context, server_part


def cmd_federation_init(ctx: Context) -> int:
    """Make this region's federation CA and certificate in <var>/federation."""
    init_identity = server_part("services.federation.setup", "init_identity")
    settings = ctx.settings()
    ca, cert, _key = init_identity(settings, ctx.args.region, ctx.args.host or ["localhost"])
    ctx.out.note(f"region {ctx.args.region}: federation certificate {cert}, CA {ca}")
    return 0


def cmd_federation_card(ctx: Context) -> int:
    """Print this region's card (code, endpoint, CA, receipt and log keys) as JSON."""
    region_card = server_part("services.federation.setup", "region_card")
    card = region_card(ctx.settings(), ctx.args.region, ctx.args.name, ctx.args.endpoint)
    print(json.dumps(card, ensure_ascii=False, indent=2), file=ctx.out.stdout)
    return 0


def cmd_federation_demo(ctx: Context) -> int:
    """Start two federated regions on this machine until Ctrl-C."""
    demo = server_part("services.federation.demo", "run_demo")
    demo(
        ctx.args.directory,
        prepare_only=ctx.args.prepare_only,
        compose=ctx.args.compose,
        supervisors=ctx.args.allow_supervisors,
    )
    return 0


def add_federation_commands(subs: Sub) -> None:
    """The ``federation`` command group."""
    fed = group(subs, "federation", "federation between regions (docs/federation.md)")
    init = command(fed, "init", cmd_federation_init, "make this region's federation identity")
    init.add_argument("--region", required=True, help="region code, e.g. 35 (GB/T 2260)")
    init.add_argument(
        "--host", action="append", help="host name or address peers reach us at (repeatable)"
    )
    card = command(fed, "card", cmd_federation_card, "print this region's card for its peers")
    card.add_argument("--region", required=True, help="region code, e.g. 35")
    card.add_argument("--name", required=True, help="region name, e.g. 福建省")
    card.add_argument("--endpoint", required=True, help="host:port of our federation listener")
    demo = command(fed, "demo", cmd_federation_demo, "run a two-region demo on this machine")
    demo.add_argument("--directory", default="var/federation-demo", help="where its files go")
    demo.add_argument(
        "--prepare-only", action="store_true", help="write the regions' files, start nothing"
    )
    demo.add_argument(
        "--allow-supervisors",
        action="store_true",
        help="each region lets the other's supervisors urge requests sent to it (催办)",
    )
    demo.add_argument(
        "--compose",
        action="store_true",
        help="files for deploy/compose.federation.yaml (hosts region-35, region-31)",
    )
