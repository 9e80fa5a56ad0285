"""Deterministic GoRest-like users, posts, comments and todos, realistic enough to break naive
code: names in many scripts, gaps in the ids, foreign keys that point at each other."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta

# (weight, male given names, female given names, family names): a name stays within one
# culture so it looks real; GoRest itself mostly serves Indian names, hence the weights.
NAME_CULTURES = [
    (
        6,
        ["Ajit", "Chandran", "Deepak", "Gopal", "Nikhil", "Ravi", "Vikram", "Jagadish"],
        ["Aditi", "Bhavani", "Chitra", "Gita", "Kamala", "Meera", "Nandini", "Priya"],
        ["Gupta", "Iyer", "Kaur", "Mehra", "Nair", "Pillai", "Reddy", "Sharma", "Dutta"],
    ),
    (
        1,
        ["Seán", "Tomás", "Ciarán", "Pádraig"],
        ["Zoë", "Siobhán", "Aoife", "Máire"],
        ["Ó Briain", "O'Connor", "Mac Giolla Phádraig", "Ní Dhomhnaill"],
    ),
    (
        1,
        ["Jürgen", "Matthias", "Søren", "Lars"],
        ["Åse", "Jördis", "Birgitta", "Solveig"],
        ["Weiß", "Müller", "Ødegård", "Ærøskøbing", "Groß-Schütte"],
    ),
    (
        1,
        ["Jean-Luc", "José", "Ramón", "François"],
        ["Élodie", "Inès", "Anne-Marie", "Begoña"],
        ["Dubois-Lefèvre", "García Márquez", "Núñez", "de la Peña"],
    ),
    (
        1,
        ["Piotr", "Ömer", "Kálmán", "Dražen"],
        ["Łucja", "Zsófia", "Şebnem", "Małgorzata"],
        ["Łukasiewicz", "Çelik", "Nowak", "Szőke"],
    ),
    (0.3, ["Γιώργος", "太郎"], ["Ελένη", "花子"], ["Νικολάου", "山田"]),
]
CULTURE_WEIGHTS = [culture[0] for culture in NAME_CULTURES]
# The first users, whatever the seed, so even a tiny list has names that break ASCII-only code.
SHOWCASE_USERS = [
    ("Zoë", "Ó Briain", "female"),
    ("Jürgen", "Weiß", "male"),
    ("Ærøskøbing", "Åse", "female"),
]
TITLES = ["Dr.", "Mr.", "Mrs.", "Ms.", "Msgr.", "Rev."]
# Letters that Unicode decomposition leaves alone but an email local part cannot hold.
ASCII_FOLDS = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d"})
# GoRest fills titles and bodies with Latin filler like this.
LATIN_FILLER = """
a abbas absum accedo acer adeo adfectus adhuc admoveo adsum advenio aedificium aequitas aestas
ager alias alius altus amicitia amo angelus animus annus ante antiquus aperio apud aqua arbor
arca argentum arma ars astrum audax audeo aufero aureus aut autem auxilium avarus barba beatus
bellum bene bis bonus brevis cado caelum calculus campana canis capio caput carcer caritas
carmen causa caveo celer cena certe cetera cibus civis clam clarus coepi cogito comes cometes
conor contra copia cornu corpus cras credo creta crux cubo culpa cum cupio cura curia currus
custodia decet defero denique deus dignitas dolor domus donec dulcis ecce ego eius eo error
et etiam ex facilis fama fero fides filius finis fortis frater gratia habeo hic homo iam ipsa
ita iter laboro laudo lex liber locus magnus maneo mare mens metus miser modo mors multus
nam nemo nihil nobis non nox nunc odio omnis opus ordo pax per pectus porro quam quasi
quidem quis ratio rerum sapiente sed semper sino socius solus spes sub tamen tempus terra
totus tunc ubi ultra unde urbs usque valde vel verbum vero via video vigor vir vita volo vox
"""
LATIN_WORDS = LATIN_FILLER.split()
# GoRest gives every due date as midnight in its own zone (India), with milliseconds.
GOREST_UTC_OFFSET = "+05:30"
# Due dates are spread over two years from here: fixed, so a seed always gives the same todos.
FIRST_DUE_DATE = date(2026, 1, 1)
# Default posts/todos: one per user, comments: one per post, at most this many of each: GoRest
# keeps a few thousand of each, and a server started for a million users should start quickly.
MAX_DEFAULT_RELATED = 10_000


def generate_users(
    count: int, seed: int = 0, first_id: int = 7000001, invalid: int = 0
) -> list[dict]:
    """Deterministic GoRest-like users, realistic enough to break naive code.

    Ids are unique and increasing but not contiguous (GoRest deletes users), names mix scripts,
    apostrophes, hyphens and titles, and emails are unique lowercase ASCII built from the name.
    `invalid` of them break the users contract (see `spoil`); the others are the users the same
    seed gives without any invalid.
    """
    rng = random.Random(seed)
    users: list[dict] = []
    emails: dict[str, int] = {}
    user_id = first_id
    for index in range(count):
        if index < len(SHOWCASE_USERS):
            first, last, gender = SHOWCASE_USERS[index]
            name = f"{first} {last}"
        else:
            first, last, gender = random_person(rng)
            name = f"{first} {last}"
            if rng.random() < 0.1:
                name = f"{rng.choice(TITLES)} {name}"
        users.append(
            {
                "id": user_id,
                "name": name,
                "email": _unique_email(ascii_slug(f"{first} {last}"), emails),
                "gender": gender,
                "status": "active" if rng.random() < 0.55 else "inactive",
            }
        )
        user_id = _next_id(rng, user_id)
    return spoil(users, invalid, seed)


# Ways a GoRest user can break the users contract, each a change to one field.
INVALID_KINDS: list[tuple[str, Callable[[int], str]]] = [
    ("email", lambda number: f"broken-address-{number}"),
    ("name", lambda number: "  "),
    ("gender", lambda number: "unspecified"),
    ("status", lambda number: "suspended"),
]


def spoil(users: list[dict], count: int, seed: int = 0) -> list[dict]:
    """`users` with `count` of them made invalid, spread evenly over the list and taking each
    kind of `INVALID_KINDS` in turn; where and which kind first follow `seed`."""
    if not 0 <= count <= len(users):
        raise ValueError(f"cannot make {count} of {len(users)} users invalid")
    if count == 0:
        return users
    rng = random.Random(f"invalid:{seed}")
    step = len(users) / count
    offset, first_kind = rng.random() * step, rng.randrange(len(INVALID_KINDS))
    for number in range(count):
        user = users[int(offset + number * step)]
        field, broken = INVALID_KINDS[(first_kind + number) % len(INVALID_KINDS)]
        user[field] = broken(number + 1)
    return users


def invalid_count(share: float, count: int) -> int:
    """How many of `count` users are invalid at `share` (0 to 1), rounded to the nearest."""
    if not 0 <= share <= 1:
        raise ValueError(f"an invalid share must be between 0 and 1, not {share}")
    return round(share * count)


def generate_posts(
    users: list[dict], count: int, seed: int = 0, first_id: int = 250001
) -> list[dict]:
    """Deterministic GoRest-like posts, each by one of `users` (none without users)."""
    rng = random.Random(f"posts:{seed}")
    user_ids = [user["id"] for user in users]
    posts: list[dict] = []
    post_id = first_id
    for _ in range(count if user_ids else 0):
        posts.append(
            {
                "id": post_id,
                "user_id": rng.choice(user_ids),
                "title": _sentence(rng, 3, 9),
                "body": _paragraph(rng, 2, 5),
            }
        )
        post_id = _next_id(rng, post_id)
    return posts


def generate_comments(
    posts: list[dict], count: int, seed: int = 0, first_id: int = 180001
) -> list[dict]:
    """Deterministic GoRest-like comments on `posts` (none without posts); commenters are not
    users, and one person may comment often, so names and emails repeat."""
    rng = random.Random(f"comments:{seed}")
    post_ids = [post["id"] for post in posts]
    comments: list[dict] = []
    comment_id = first_id
    for _ in range(count if post_ids else 0):
        first, last, _gender = random_person(rng)
        comments.append(
            {
                "id": comment_id,
                "post_id": rng.choice(post_ids),
                "name": f"{first} {last}",
                "email": f"{ascii_slug(f'{first} {last}')}@example.test",
                "body": _paragraph(rng, 1, 3),
            }
        )
        comment_id = _next_id(rng, comment_id)
    return comments


def generate_todos(
    users: list[dict], count: int, seed: int = 0, first_id: int = 110001
) -> list[dict]:
    """Deterministic GoRest-like todos, each of one of `users` (none without users), due at
    midnight GoRest time: "2026-12-03T00:00:00.000+05:30"."""
    rng = random.Random(f"todos:{seed}")
    user_ids = [user["id"] for user in users]
    todos: list[dict] = []
    todo_id = first_id
    for _ in range(count if user_ids else 0):
        due = FIRST_DUE_DATE + timedelta(days=rng.randrange(730))
        todos.append(
            {
                "id": todo_id,
                "user_id": rng.choice(user_ids),
                "title": _sentence(rng, 3, 9),
                "due_on": f"{due.isoformat()}T00:00:00.000{GOREST_UTC_OFFSET}",
                "status": "completed" if rng.random() < 0.5 else "pending",
            }
        )
        todo_id = _next_id(rng, todo_id)
    return todos


def generate_resources(
    users: list[dict],
    *,
    posts: int | None = None,
    comments: int | None = None,
    todos: int | None = None,
    seed: int = 0,
) -> dict[str, list[dict]]:
    """Posts, comments and todos whose foreign keys point at `users` and at each other, for
    `GoRestServer(users, resources=...)`; counts left out follow MAX_DEFAULT_RELATED."""
    if posts is None:
        posts = min(len(users), MAX_DEFAULT_RELATED)
    if todos is None:
        todos = min(len(users), MAX_DEFAULT_RELATED)
    post_list = generate_posts(users, posts, seed)
    if comments is None:
        comments = min(len(post_list), MAX_DEFAULT_RELATED)
    return {
        "posts": post_list,
        "comments": generate_comments(post_list, comments, seed),
        "todos": generate_todos(users, todos, seed),
    }


def random_person(rng: random.Random) -> tuple[str, str, str]:
    """(first, last, gender), all from one culture so the name looks real."""
    _, male_names, female_names, family_names = rng.choices(NAME_CULTURES, CULTURE_WEIGHTS)[0]
    gender = rng.choice(("male", "female"))
    first = rng.choice(male_names if gender == "male" else female_names)
    return first, rng.choice(family_names), gender


def _next_id(rng: random.Random, current: int) -> int:
    """Increasing but not contiguous, like a GoRest list whose records get deleted."""
    return current + (1 if rng.random() < 0.85 else rng.randint(2, 4))


def _sentence(rng: random.Random, shortest: int, longest: int) -> str:
    return " ".join(rng.choices(LATIN_WORDS, k=rng.randint(shortest, longest))).capitalize() + "."


def _paragraph(rng: random.Random, shortest: int, longest: int) -> str:
    return " ".join(_sentence(rng, 4, 14) for _ in range(rng.randint(shortest, longest)))


def ascii_slug(text: str) -> str:
    """'Zoë Ó Briain' -> 'zoe_o_briain'; scripts with no Latin letters fold to 'user'."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(ASCII_FOLDS))
    letters = (ch for ch in decomposed if not unicodedata.combining(ch))
    words = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in letters).split()
    return "_".join(words) or "user"


def _unique_email(local: str, taken: dict[str, int]) -> str:
    """`name@example.test`, then `name2@...`, `name3@...`: a counter per name keeps a million
    users linear (names repeat a lot)."""
    count = taken.get(local, 0) + 1
    taken[local] = count
    return f"{local}@example.test" if count == 1 else f"{local}{count}@example.test"
