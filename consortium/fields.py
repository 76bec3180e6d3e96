"""Model fields of the kernel: a text column encrypted value by value (``consortium.crypto``)."""

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull

from . import crypto


class _EmptyOnlyExact(Exact):
    """``field=""`` (is it blank?) is the one comparison an encrypted column can answer in SQL."""

    def get_prep_lookup(self):
        if self.rhs != "":
            raise FieldError(f"{self.lhs.output_field.name} is encrypted: look it up through its lookup hash, not by value")
        return super().get_prep_lookup()


class EncryptedCharField(models.CharField):
    """A CharField whose non-empty values are stored as AES-GCM envelopes in a text column.

    Python sees the clear value (``max_length`` and validators apply to it); the database holds
    ``v1:<key id>:<...>`` written under the current key and read under any key of the ring.  Only
    ``=""`` and ``IS NULL`` can be asked of it in a query: equality, prefixes and suffixes go
    through the lookup hashes or are checked on decrypted values.
    """

    def get_internal_type(self):
        # Not "CharField": set-based inserts (consortium.bulk) must pass values through get_db_prep_save.
        return "EncryptedCharField"

    def db_type(self, connection):
        return connection.data_types["TextField"]

    def cast_db_type(self, connection):
        return self.db_type(connection)

    @property
    def context(self) -> str:
        return f"{self.model._meta.label_lower}.{self.name}"

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value), self.context)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value, self.context)

    def get_lookup(self, lookup_name):
        if lookup_name == "exact":
            return _EmptyOnlyExact
        if lookup_name == "isnull":
            return IsNull
        return None
