"""The engine: pure logic shared by the CLI and the TUI. Never imports Textual.

Two library messages that ask nothing of the learner are silenced here, before any engine
module imports the libraries: bitsandbytes 0.50 logs a warning on CPUs with AVX512-BF16
when the optional `kernels` package is missing (it then uses its own CPU kernels), and
peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`.
"""

import logging
import warnings

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
