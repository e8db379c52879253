"""Coverage of pre-trained vectors: ``align_vectors``' report, printed, and for a corpus.

``format_coverage`` gives the lines of a report (logged by training, printed
by ``python -m wincls.vectors coverage``); ``corpus_coverage`` makes the report
for every word of a corpus rather than a vocabulary.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from wincls.data.vectors.align import Matrix
from wincls.data.vectors.align import align_vectors
from wincls.data.vectors.align import corpus_counts


def format_coverage(report: Mapping[str, Any], *, title: str = "") -> str:
  """A few lines describing an ``align_vectors`` report."""
  types, tokens = report["types"], report["tokens"]
  lines = [f"{title + ': ' if title else ''}{types['total']} words "
           f"(+{report['reserved']} reserved) vs {report['num_vectors']} vectors "
           f"of dim {report['dim']}",
           f"  types covered:  {types['found']}/{types['total']} "
           f"({100 * types['coverage']:.2f}%)"]
  if tokens is not None:
    lines.append(f"  tokens covered: {tokens['found']}/{tokens['total']} "
                 f"({100 * tokens['coverage']:.2f}%)")
  for rule, n in report["rules"].items():
    line = f"    {rule:8s} {n['types']:8d} types"
    if n["tokens"] is not None:
      line += f" {n['tokens']:9d} tokens"
    lines.append(line)
  if report["top_misses"]:
    shown = ", ".join(f"{w} ({c})" if tokens is not None else w
                      for w, c in report["top_misses"])
    lines.append(f"  most frequent misses: {shown}")
  lines.append(f"  random rows: N(0, sigma_d^2), mean sigma_d = {report['init_std']:.4f}")
  duplicates = report.get("duplicate_words")
  if duplicates and duplicates["rows"]:
    lines.append(f"  duplicate words: {duplicates['rows']} rows repeat an earlier row's "
                 f"word ({duplicates['words']} words, e.g. "
                 f"{', '.join(map(repr, duplicates['examples']))}); the first row of "
                 "each word is kept, the later ones ignored")
  return "\n".join(lines)


def corpus_coverage(sentences_words, vec_words: Sequence[str], matrix: Matrix, *,
                    lowercase: bool = True, normalize_digits: bool = True,
                    normalize: Callable[[str], str] | None = None,
                    use_surface: bool = True, num_misses: int = 20) -> dict[str, Any]:
  """``align_vectors``' report for the words of a corpus (every type kept).

  The types are the corpus' normalised words (see ``corpus_counts``), with
  their token counts and, if ``use_surface``, their surface forms.
  """
  counts, forms = corpus_counts(sentences_words, lowercase=lowercase,
                                normalize_digits=normalize_digits,
                                normalize=normalize)
  types = sorted(counts, key=lambda w: (-counts[w], w))
  _, report = align_vectors(types, vec_words, matrix, counts=counts,
                            surface_forms=forms if use_surface else None,
                            reserved_ids=(), zero_ids=(), num_misses=num_misses)
  return report
