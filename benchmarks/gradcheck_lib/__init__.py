"""The library of ``benchmarks/gradcheck.py``: one module per job.

* ``cases``: what a component is (``Case``, ``Component``), the sizes swept and
  the helpers that draw inputs away from kinks;
* ``components``: the components, read from the registries of ``wincls/model``;
* ``measure``: one row (errors vs jacfwd, jacrev and finite differences; times);
* ``report``: the JSON, the summary sentences and the markdown tables;
* ``plot``: the PNG.
"""
