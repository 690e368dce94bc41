"""The local stack: emulator bootstrap, provisioning from template.yaml, event-source runner.

The domain package lives in the Lambda layer's folder; make it importable for these tools the
way Lambda does for the functions (it mounts the layer at /opt/python).
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "taskhook" / "python")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
