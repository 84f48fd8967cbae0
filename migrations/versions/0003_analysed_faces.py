"""Analysed faces: what an analysis job found in a photo (box, score, aligned chip, landmarks and one
embedding per model), kept with the job for the retention period only.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analysed_faces",
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("chip", sa.LargeBinary(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.CheckConstraint("number > 0", name=op.f("ck_analysed_faces_number_positive")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_analysed_faces_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "number", name=op.f("pk_analysed_faces")),
    )
    op.create_table(
        "analysed_face_embeddings",
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("dim > 0", name=op.f("ck_analysed_face_embeddings_dim_positive")),
        sa.CheckConstraint(
            "length(vector) = 4 * dim", name=op.f("ck_analysed_face_embeddings_vector_length")
        ),
        sa.ForeignKeyConstraint(
            ["job_id", "number"],
            ["analysed_faces.job_id", "analysed_faces.number"],
            name=op.f("fk_analysed_face_embeddings_job_id_analysed_faces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "number", "model", name=op.f("pk_analysed_face_embeddings")),
    )


def downgrade() -> None:
    op.drop_table("analysed_face_embeddings")
    op.drop_table("analysed_faces")
