"""The registry's HTTP routes, one APIRouter per concern; each parses, authorises, calls a use case.

No SQL and no transactions here (a test greps for them): the work is `RegistryService`'s. Officer
routes take `AuthorisedOfficer`, which checks the operation against `access.ROUTE_PERMISSIONS`.
"""
