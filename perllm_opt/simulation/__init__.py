"""Online simulation: schedulers decide, request by request, at each decision epoch, from what
they may know (the view); the environment refuses what does not fit (the fourth stage)."""
