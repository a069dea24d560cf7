"""Convert CrossWOZ (its three databases + the derived QA file) into the eval suite's formats.

    .venv/bin/python examples/crosswoz/convert.py --data ../shared/data/rag/crosswoz_zh --out crosswoz-eval
    .venv/bin/skycall evals run rag --kb crosswoz-eval/kb.jsonl --dataset crosswoz-eval/qa.jsonl

Writes two files, with no code in ``evals/`` knowing about CrossWOZ:

- ``kb.jsonl``: every attraction, hotel and restaurant rendered through the record templates beside
  this script (``attraction.yaml``, ``hotel.yaml``, ``restaurant.yaml``) in the ``skycall kb export``
  format (``docs/knowledge-format.md``), so ``--kb`` (and ``skycall kb import``) read it as is;
- ``qa.jsonl``: each dev question in the rag suite's format (``docs/evals.md``): the earlier turns
  as context (``usr`` → caller, ``sys`` → bot), the requested database values as ``gold_values``,
  the entity's document id as ``gold_documents``, the human reply as ``reference``, and the category
  ``crosswoz-named`` (the entity is named in the question) or ``crosswoz-context`` (it is only
  named in earlier turns).

The same approach fits any "database + QA" set: one record template per table, and a few lines to
map the QA fields.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run from a checkout without installing

from knowledge_ingest.records import RecordTemplate, render_records  # noqa: E402

TABLES = {"景点": "attraction", "酒店": "hotel", "餐馆": "restaurant"}


def convert(data: Path, out: Path) -> tuple[int, int]:
    out.mkdir(parents=True, exist_ok=True)
    n_docs = 0
    with (out / "kb.jsonl").open("w", encoding="utf-8") as fh:
        for table in TABLES.values():
            for d in render_records(RecordTemplate.load(HERE / f"{table}.yaml", data_dir=data)):
                row = {"id": d.doc_key, "lang": d.lang, "kind": d.kind, "title": d.title, "category": d.category}
                fh.write(json.dumps(row | {"body": d.body, "status": "published"}, ensure_ascii=False) + "\n")
                n_docs += 1
    n_qa = 0
    with (out / "qa.jsonl").open("w", encoding="utf-8") as fh:
        for line in (data / "qa_dev.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            item = {
                "id": r["id"],
                "lang": "zh",
                "question": r["question"],
                "context": [
                    {"role": "caller" if t["role"] == "usr" else "bot", "text": t["text"]} for t in r.get("context", [])
                ],
                "expect": "answer",
                "gold_values": r["gold_db_values"],
                "gold_documents": [f"{TABLES[r['domain']]}-{r['entity']}"],
                "reference": r.get("reference_answer", ""),
                "category": "crosswoz-named" if r["entity_named_in_question"] else "crosswoz-context",
            }
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
            n_qa += 1
    return n_docs, n_qa


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with *_db.json and qa_dev.jsonl")
    ap.add_argument("--out", type=Path, required=True, help="folder to write kb.jsonl and qa.jsonl into")
    args = ap.parse_args()
    n_docs, n_qa = convert(args.data, args.out)
    print(f"{n_docs} documents → {args.out / 'kb.jsonl'}; {n_qa} questions → {args.out / 'qa.jsonl'}")  # noqa: T201


if __name__ == "__main__":
    main()
