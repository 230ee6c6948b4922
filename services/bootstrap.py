"""Setting up a development or demo installation: PKI, schema, demo catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from services import demo as catalogue_demo
from services.common.config import KNOWN_SERVICES, Settings
from services.common.database import Database
from services.common.migrate import upgrade
from services.common.pki import DevPki, init_dev_pki
from services.licence_store import demo

if TYPE_CHECKING:
    from services.app import App
    from services.audit import AuditReport


def init_pki(settings: Settings, *, force: bool = False) -> DevPki:
    """A development CA, a server certificate and one client certificate per demo department."""
    departments = [(d.credit_code, d.name) for d in demo.DEPARTMENTS]
    return init_dev_pki(settings.pki_dir, departments, force=force)


def upgrade_db(settings: Settings) -> None:
    """Bring the database schema up to date."""
    from services.app import load_sealer
    from services.common.holder_vault import HolderVault

    db = Database.for_settings(settings)
    try:
        upgrade(db, vault=HolderVault(load_sealer(settings)))
    finally:
        db.dispose()


def load_demo(settings: Settings) -> None:
    """Register the demo departments and licence types (safe to run again)."""
    from services.app import build_app

    app = build_app(settings.with_overrides(services=KNOWN_SERVICES))  # every part is loaded
    try:
        load_demo_catalogue(app)
    finally:
        app.close()


def load_demo_catalogue(app: App) -> None:
    """Register the demo departments and licence types through the service."""
    catalogue = app.store().catalogue
    for d in demo.DEPARTMENTS:
        catalogue.register_department(d.credit_code, d.name, d.region, d.roles)
    for lt in demo.LICENCE_TYPES:
        catalogue.register_licence_type(lt)
    for grant in demo.READ_GRANTS:
        catalogue.grant_read(grant)
    app.verifier.materials.save_items(catalogue_demo.SERVICE_ITEMS)
    if app.assistance is not None:
        for item in catalogue_demo.ASSISTANCE_ITEMS:
            app.assistance.register_item(item)


def audit_verify(settings: Settings, heads: str | None = None) -> AuditReport:
    """Recompute the tamper-evident log from the database (``yihao audit verify``); ``heads``:
    a file of signed heads saved outside it (``yihao audit save-head``)."""
    from services.app import build_app
    from services.audit import load_heads, verify

    saved = load_heads(Path(heads)) if heads else []
    app = build_app(settings, migrate=False)
    try:
        with app.db.read() as conn:
            return verify(
                conn,
                app.verifier.log_keys,
                app.read.codec,
                saved,
                decision_keys=app.verifier.receipt_keys,
            )
    finally:
        app.close()


def reseal(settings: Settings) -> int:
    """Re-seal everything sealed under an older master key (``yihao keys reseal``)."""
    from services.app import load_sealer
    from services.common.clock import SystemClock
    from services.common.holder_vault import HolderVault
    from services.reseal import reseal_all

    sealer = load_sealer(settings)
    db = Database.for_settings(settings)
    try:
        return reseal_all(db, HolderVault(sealer), sealer, SystemClock().now())
    finally:
        db.dispose()
