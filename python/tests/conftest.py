import os
import sys

# Import fa_mlir from this source tree.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
