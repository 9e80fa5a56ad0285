"""The users record: GoRest v2's five fields, the tool that loaded them, and their rules."""

from users_pipeline.contract import Field, RecordContract

# Deliberately loose: one @, no spaces, a dot in the domain. Mail servers decide the rest.
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"

USERS_CONTRACT = RecordContract(
    fields=(
        Field("id", "bigint", "The API's user id (the primary key)", key=True, minimum=1),
        Field("name", "text", "Full name, byte for byte", max_length=255, not_blank=True),
        Field(
            "email",
            "text",
            "Email, unique in a snapshot (case-insensitive)",
            max_length=255,
            pattern=EMAIL_PATTERN,
            unique=True,
        ),
        Field("gender", "enum", "male or female", values=("female", "male")),
        Field("status", "enum", "active or inactive", values=("active", "inactive")),
        Field(
            "inserted_from", "constant", "Which tool loaded it", max_length=255, value="dagster"
        ),
    )
)
