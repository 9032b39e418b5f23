"""A fake of Azure (Entra ID + ARM Microsoft.Network) over HTTPS for tests and the lab.

See :mod:`tests.fakeazure.server` for the entry point, :mod:`.schema` for the REST facts it
honours, :mod:`.spec` for the checker,
:mod:`.faults` for fault injection and :mod:`.fixtures` for the pytest fixtures.
"""

from .faults import Faults
from .seed import Names
from .server import SDK_API_VERSION, SPEC_API_VERSION, FakeAzure
from .spec import Spec

__all__ = [
    "SDK_API_VERSION",
    "SPEC_API_VERSION",
    "FakeAzure",
    "Faults",
    "Names",
    "Spec",
]
