#!/usr/bin/python3
"""svwar, bound to a chosen source address: `svwar_bound.py ADDR [svwar arguments]`.

Debian's sipvicious 0.3.3 accepts `svwar -b ADDR` but never hands the address to its
scanner, which then sends from every interface's address (127.0.0.1 on loopback). This
wrapper runs the packaged svwar unchanged with the scanner's binding address set, so a
test can scan from an address such as 127.0.0.2 that the gateway does not allow.
"""
import sys

sys.path.insert(0, "/usr/share/sipvicious")
from sipvicious import svwar  # noqa: E402

addr = sys.argv.pop(1)
original = svwar.TakeASip.__init__


def bound(self, *args, **kwargs):
    kwargs["bindingip"] = addr
    original(self, *args, **kwargs)


svwar.TakeASip.__init__ = bound
sys.argv[0] = "svwar"
sys.exit(svwar.main())
