"""One family of library errors.

Every error a user can cause derives from :class:`GeoEnforceError`; where a caller would expect
a built-in it inherits that too. ``api/errors.py`` maps each class to one HTTP status.
"""


class GeoEnforceError(Exception):
    """Base class: a message meant for the user (names the file, feature or field at fault)."""


class ConfigError(GeoEnforceError):
    """Settings are missing or invalid."""


class DatabaseUnavailable(GeoEnforceError, ConnectionError):
    """The database cannot be reached or started."""


class InvalidInput(GeoEnforceError, ValueError):
    """Input data is malformed: bad file, bad geometry, bad field."""


class BadQuery(InvalidInput):
    """A request parameter a standard protocol answers with 400 Bad Request (OGC API): an
    unknown parameter or a malformed value."""


class CRSError(InvalidInput):
    """Coordinates or coordinate reference system are missing, wrong or implausible."""


class NotFound(GeoEnforceError, LookupError):
    """A record, layer, flight or file does not exist."""


class Conflict(GeoEnforceError):
    """The write conflicts with stored state (stale version, duplicate key)."""


class IllegalTransition(Conflict):
    """A lifecycle transition that the rules forbid."""


class PermissionDenied(GeoEnforceError, PermissionError):
    """The caller's role does not allow this."""


class AuthenticationFailed(GeoEnforceError):
    """No valid token was presented."""


class TooLarge(InvalidInput):
    """An upload exceeds a configured limit (bytes, pixels, features)."""


class ImageryError(InvalidInput):
    """A raster is unreadable, lacks georeference, or does not fit the operation."""
