"""Runs ``python -m llama_cpp.server`` with llama.cpp's weight repacking turned off.

llama-cpp-python 0.3.36 built on an AVX-512 CPU segfaults in ``llama_decode`` on any batch of more
than one token when the Q4_1 weights are repacked into its extra CPU buffer types (measured on this
project's 2-core machines: ``n_batch=1`` or ``use_extra_bufts=False`` both work; the server exposes
neither). The api tier's server therefore starts through this module, which sets
``use_extra_bufts = False`` in the model's default parameters and then runs the server's own
``main()`` with the same command-line arguments.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama as llama_module

_default_params = llama_module.llama_cpp.llama_model_default_params


def _params_without_repacking():
    params = _default_params()
    if "use_extra_bufts" in dict(type(params)._fields_):
        params.use_extra_bufts = False
    return params


llama_module.llama_cpp.llama_model_default_params = _params_without_repacking

if __name__ == "__main__":
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
