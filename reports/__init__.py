"""Release policies (``policy``), the gate that applies them (``gate``), the HTML report (``render``)
and publishing a decided run (``release``)."""
