"""sign-in sessions, single sign-on identities, sign-in throttle; the audit trail's hash chain

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

A screen holds a sign-in session, not trusted roles; single sign-on identities are keyed by
issuer and subject; failed password checks are counted in a row of their own. Every audit
entry gets the hash chaining it to the one before (observations/audit_chain.py): entries
written before this revision are chained here, in id order, once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'sign_in_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('started_at', UTC_TIME, nullable=False),
        sa.Column('ended_at', UTC_TIME, nullable=True),
        sa.Column('end_reason', sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sign_in_sessions_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_sessions')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_sign_in_sessions_token_sha256')),
    )
    with op.batch_alter_table('sign_in_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_sessions_user_id'), ['user_id'], unique=False)
    op.create_table(
        'external_identities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=255), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_external_identities_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_external_identities')),
        sa.UniqueConstraint('issuer', 'subject', name='uq_external_identities_issuer_subject'),
        sa.UniqueConstraint('user_id', name=op.f('uq_external_identities_user_id')),
    )
    op.create_table(
        'sign_in_throttle',
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', UTC_TIME, nullable=True),
        sa.Column('updated_at', UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_sign_in_throttle')),
    )
    _chain_the_audit_trail()


def _chain_the_audit_trail() -> None:
    """Add the hash columns and chain the entries already written. The append-only trigger
    is lifted for this one pass, inside the migration's own transaction."""
    from observations.audit_chain import GENESIS, entry_hash

    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_update')
    else:
        op.execute('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only')
    op.add_column('audit_log', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_log', sa.Column('row_hash', sa.String(length=64), nullable=True))
    log = sa.table(
        'audit_log',
        sa.column('id', sa.Integer()), sa.column('at', UTC_TIME), sa.column('user_id', sa.Integer()),
        sa.column('username', sa.String()), sa.column('action', sa.String()),
        sa.column('entity', sa.String()), sa.column('entity_id', sa.Integer()),
        sa.column('trial_id', sa.Integer()), sa.column('details', sa.JSON()),
        sa.column('prev_hash', sa.String()), sa.column('row_hash', sa.String()),
    )
    bind = op.get_bind()
    prev = GENESIS
    rows = bind.execute(sa.select(log).order_by(log.c.id)).mappings().all()
    for row in rows:
        entry = dict(row)
        at = entry['at']
        if at.tzinfo is None:  # SQLite keeps UTC without its zone
            from datetime import UTC
            entry['at'] = at.replace(tzinfo=UTC)
        row_hash = entry_hash(prev, entry)
        bind.execute(
            log.update().where(log.c.id == row['id']).values(prev_hash=prev, row_hash=row_hash)
        )
        prev = row_hash
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('row_hash', existing_type=sa.String(length=64), nullable=False)
    if sqlite:
        # batch_alter_table rebuilt the table on SQLite: its triggers went with the old one.
        _sqlite_audit_triggers()
    else:
        op.execute('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only')


def _sqlite_audit_triggers() -> None:
    """The first migration's append-only triggers of audit_log, put back after a rebuild."""
    for verb in ('UPDATE', 'DELETE'):
        op.execute(f'DROP TRIGGER IF EXISTS audit_log_no_{verb.lower()}')
        op.execute(
            f'CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log '
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: "
            "a correction is a new row'); END"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
    if sqlite:
        _sqlite_audit_triggers()
    op.drop_table('sign_in_throttle')
    op.drop_table('external_identities')
    with op.batch_alter_table('sign_in_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_sessions_user_id'))
    op.drop_table('sign_in_sessions')
