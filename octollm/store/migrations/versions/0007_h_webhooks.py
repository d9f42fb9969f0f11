"""webhooks: signing secrets sealed at rest; a previous secret kept during a rotation

Existing plaintext secrets are sealed here with the webhook secret key of the settings the
migration runs under (``OCTOLLM_WEBHOOKS__SECRET_KEYS`` or ``<data_dir>/webhook-secrets.keys``,
generated if absent): run ``octollm migrate`` with the same settings as the workers.
``secret_scheme`` defaults to ``plain`` in the database, so a row written by an older process
during a rolling upgrade is still read correctly (and sealed by the next ``rotate-key``).

Revision ID: 0007_h_webhooks
Revises: 0006
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_h_webhooks"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints",
        sa.Column("secret_scheme", sa.String(16), nullable=False, server_default="plain"),
    )
    op.add_column("webhook_endpoints", sa.Column("previous_secret", sa.Text(), nullable=True))
    op.add_column(
        "webhook_endpoints",
        sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True),
    )
    conn = op.get_bind()
    plain = conn.execute(
        sa.text("SELECT id, secret FROM webhook_endpoints WHERE secret_scheme = 'plain'")
    ).all()
    if not plain:
        return
    from octollm.config import get_settings
    from octollm.webhooks.secretbox import SEALED, box

    sealer = box(get_settings())
    for row in plain:
        conn.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret = :secret, secret_scheme = :scheme "
                "WHERE id = :id"
            ),
            {"id": row.id, "secret": sealer.seal(row.secret), "scheme": SEALED},
        )


def downgrade() -> None:
    conn = op.get_bind()
    sealed = conn.execute(
        sa.text("SELECT id, secret FROM webhook_endpoints WHERE secret_scheme <> 'plain'")
    ).all()
    if sealed:
        from octollm.config import get_settings
        from octollm.webhooks.secretbox import box

        opener = box(get_settings())
        for row in sealed:
            conn.execute(
                sa.text("UPDATE webhook_endpoints SET secret = :secret WHERE id = :id"),
                {"id": row.id, "secret": opener.open(row.secret)},
            )
    op.drop_column("webhook_endpoints", "previous_until")
    op.drop_column("webhook_endpoints", "previous_secret")
    op.drop_column("webhook_endpoints", "secret_scheme")
