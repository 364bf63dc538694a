"""Text generation for evaluation and on-policy pairs: one interface, two explicit backends.

* ``hf``: Hugging Face ``generate`` (CPU, and the fallback on any machine);
* ``vllm``: vLLM's offline ``LLM(...).generate`` (GPU hosts; the optional ``gpu`` extra).

The backend is always named by the suite config or the caller, never picked silently, and
``Generator.describe()`` goes into the result so a record says which backend produced its samples.
"""

from harness.generation.base import GENERATORS, Completion, GenerationConfig, Generator, make_generator

__all__ = ["GENERATORS", "Completion", "GenerationConfig", "Generator", "make_generator"]
