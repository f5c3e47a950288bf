"""unigram_datasets.py - the dataset texts the Unigram check trains on and compares with.

SIB-200 files are TSV (header index_id, category, text) and Banking77 files are CSV
(header text, category); both quote fields CSV-style with "" for a quote, so they are
read with the csv module rather than split by hand.

    /usr/bin/python3 tools/hf/unigram_datasets.py corpus OUT.txt   # spm_train input
"""
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATASETS = os.environ.get("KANAVA_SHARED", os.path.join(ROOT, "..", "shared")) + "/datasets"

SIB200 = [f"sib200/{lang}/{split}.tsv" for lang in ("fin_Latn", "eng_Latn")
          for split in ("train", "dev", "test")]
BANKING77 = ["banking77/train.csv", "banking77/test.csv"]


def read_texts(rel):
    """Texts of the "text" column of a dataset file, in file order."""
    path = os.path.join(DATASETS, rel)
    delimiter = "\t" if rel.endswith(".tsv") else ","
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter=delimiter, quotechar='"', doublequote=True)
        header = next(rows)
        col = header.index("text")
        return [row[col] for row in rows if row]


def write_corpus(out):
    """One SIB-200 sentence per line (fi then en), line breaks inside a text as spaces."""
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for rel in SIB200:
            for text in read_texts(rel):
                f.write(" ".join(text.splitlines()) + "\n")
                n += 1
    return n


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "corpus":
        sys.exit("usage: unigram_datasets.py corpus OUT.txt")
    print(f"{write_corpus(sys.argv[2])} sentences -> {sys.argv[2]}")
