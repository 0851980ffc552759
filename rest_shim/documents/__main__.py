import sys

from rest_shim.documents import main

sys.exit(main())
