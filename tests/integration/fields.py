"""Header-field access shared by every response (and recorded request)
class of the test helpers: each keeps its fields as a list of
(name, value) pairs, in order, names as received."""


class Fields:
    headers = ()

    def header(self, name, default=None):
        """The first value of the field (case-insensitive name), or default."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        """Every value of the field, in order."""
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    def header_index(self, name):
        """The position of the field's first line, or -1."""
        name = name.lower()
        for i, (k, _) in enumerate(self.headers):
            if k.lower() == name:
                return i
        return -1
