"""The rows of ``benchmarks/throughput.py``: like-for-like ratios and a markdown table."""

from __future__ import annotations

SEED_IMPLS = ("wincls_seeds", "wincls_vmap_seeds", "wincls_sequential_seeds")
TORCH_IMPLS = ("torch_eager", "torch_eager_fused", "torch_compile", "torch_sparse")


def add_ratios(rows: list[dict]) -> None:
  """``vs_fastest_torch`` (same semantics) and ``vs_wincls_sequential_seeds``."""
  by_impl = {row["impl"]: row.get("windows_per_s") for row in rows}
  for row in rows:
    mine = row.get("windows_per_s")
    if not mine:
      continue
    if row["impl"].startswith("wincls") and row["impl"] not in SEED_IMPLS:
      same = [(r["windows_per_s"], r["impl"]) for r in rows
              if r["impl"] in TORCH_IMPLS and r.get("windows_per_s")
              and r["optimizer_semantics"] == row["optimizer_semantics"]]
      if same:
        fastest, name = max(same)
        row["fastest_torch"] = name
        row["vs_fastest_torch"] = mine / fastest
    sequential = by_impl.get("wincls_sequential_seeds")
    if row["impl"] in ("wincls_seeds", "wincls_vmap_seeds") and sequential:
      row["vs_wincls_sequential_seeds"] = mine / sequential


def markdown_table(rows: list[dict]) -> str:
  """The rows as a markdown table."""
  head = ("| config | B | impl | Adam | windows/s | epoch s | compile s | "
          "vs fastest torch, same Adam | roofline | of model-shape matmul |\n"
          "|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
  lines = [head]

  def fmt(value, spec):
    return "" if value is None else format(value, spec)

  for row in rows:
    impl = row["impl"]
    if row.get("num_seeds", 1) > 1:
      impl += f" ×{row['num_seeds']}"
      if row.get("seed_loop"):
        impl += f" ({row['seed_loop']})"
      if "vs_wincls_sequential_seeds" in row:
        impl += f", {row['vs_wincls_sequential_seeds']:.2f}× sequential"
    start = f"| {row['config']} | {row['batch_size']} | {impl} | {row['optimizer_semantics']} |"
    if row.get("windows_per_s") is None:
      lines.append(f"{start} {row.get('error', 'n/a')[:80]} | | | | | |")
      continue
    versus = ""
    if row.get("vs_fastest_torch") is not None:
      versus = f"{row['vs_fastest_torch']:.2f}× {row['fastest_torch']}"
    lines.append(
        f"{start} {row['windows_per_s']:,.0f} | {row['epoch_s']:.3f} | "
        f"{fmt(row.get('compile_s'), '.2f')} | {versus} | "
        f"{100 * row['roofline_fraction']:.1f}% | "
        f"{100 * row['model_matmul_fraction']:.1f}% |")
  return "\n".join(lines)
