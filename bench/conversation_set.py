"""The conversational retrieval set: long chats between two people, and questions about them.

Written for this project from scratch (bench/conversations/*.json): each conversation has two
speakers, 10-12 dated sessions of dialog turns and 45+ questions of four kinds (single fact,
facts spread over sessions, time, inference), each labelled with the turns that hold its
answer. Each turn is stored as one memory, `"Speaker: text"`, with its session's date in
metadata, one workspace per conversation; a question is searched in its conversation only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "conversations"
KINDS = ("single", "multi", "time", "inference")


@dataclass(frozen=True)
class Turn:
    """One dialog turn: stored as one memory."""

    id: str
    speaker: str
    text: str
    session: int
    date: str

    @property
    def memory_text(self) -> str:
        """The text stored: the speaker's name, then what they said."""
        return f"{self.speaker}: {self.text}"

    @property
    def metadata(self) -> dict[str, object]:
        """The metadata stored with the turn: its session and that session's date."""
        return {"session": self.session, "session_date": self.date, "speaker": self.speaker}


@dataclass(frozen=True)
class Question:
    """A question about a conversation, with the ids of the turns that answer it."""

    id: str
    kind: str
    text: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Conversation:
    """A conversation's turns and its questions."""

    id: str
    speakers: tuple[str, str]
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


def load(folder: Path = FOLDER) -> list[Conversation]:
    """Every conversation of the set, checked: unique ids, evidence that exists, known kinds."""
    conversations = []
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        turns = tuple(
            Turn(turn["id"], turn["speaker"], turn["text"], session["session"], session["date"])
            for session in raw["sessions"]
            for turn in session["turns"]
        )
        questions = tuple(
            Question(q["id"], q["kind"], q["question"], tuple(q["evidence"]))
            for q in raw["questions"]
        )
        ids = {turn.id for turn in turns}
        if len(ids) != len(turns):
            raise ValueError(f"{path.name}: turn ids repeat")
        for question in questions:
            if question.kind not in KINDS or not question.evidence:
                raise ValueError(f"{path.name}: {question.id} has no evidence or a bad kind")
            if not set(question.evidence) <= ids:
                raise ValueError(f"{path.name}: {question.id} names a turn that is not there")
        conversations.append(Conversation(raw["id"], tuple(raw["speakers"]), turns, questions))
    return conversations


def recall_at(found: list[str], evidence: tuple[str, ...], k: int) -> float:
    """The share of a question's evidence turns among the first k found."""
    return len(set(found[:k]) & set(evidence)) / len(evidence)
