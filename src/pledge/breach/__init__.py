"""The breach register and notifications (GDPR Art. 33 and 34).

* :mod:`pledge.breach.register` — the register: open, assess, clock, phases, audit.
* :mod:`pledge.breach.affected` — exposed rows in a window, walked back to their owners.
* :mod:`pledge.breach.report` — the Art. 33(3) authority report (Markdown, HTML, JSON).
* :mod:`pledge.breach.notify_people` — Art. 34 emails, English and Polish, once each.
"""

from pledge.breach.affected import Affected, AffectedError, AffectedPerson, find_affected
from pledge.breach.register import Breach, BreachError, BreachRegister, Clock, risk_level

__all__ = ["Affected", "AffectedError", "AffectedPerson", "Breach", "BreachError", "BreachRegister", "Clock",
           "find_affected", "risk_level"]
