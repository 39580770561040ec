"""Errors an app's definition can raise while it loads."""


class RouteError(ValueError):
    """A route that can never work: refused when the app loads, not on the first request.

    The worker reports it as a StartupError (kind ``invalid_route``) naming the route.
    """
