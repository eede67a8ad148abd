"""The layer catalogue (``layers/catalogue.yaml``): what each layer is and how to read its fields.

Each layer names its table, geometry type, natural key (what an import upserts on), its fields
with Chinese names, types, the source field names accepted for them (Chinese names, aliases, the
short shapefile name), the vocabulary of allowed values (``geo_enforce.ledger.vocab``; Chinese
labels accepted on import) and a default map style.

The file is the packaged ``geo_enforce/layers/catalogue.yaml`` (``<repo>/layers/`` in a checkout)
unless a path is given; the CLI and the API pass ``Settings.catalogue`` (``GEO_ENFORCE_CATALOGUE``).
This module is the only reader of the file: the importer, the exporter, the map styles and the
layer titles all use :func:`get_catalogue`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geo_enforce.errors import ConfigError, NotFound
from geo_enforce.ledger import vocab as vocab_module

DEFAULT_PATH = Path(str(files("geo_enforce.layers") / "catalogue.yaml"))

FieldType = Literal["str", "int", "float", "date", "bool"]

#: Spellings accepted for booleans (compared lower-cased).
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "是", "有", "√"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "否", "无", ""})


class FieldSpec(BaseModel):
    """One field of a layer: name, Chinese name, type, vocabulary, source names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    zh: str
    type: FieldType
    required: bool = False
    default: Any = None
    vocab: str | None = None
    aliases: tuple[str, ...] = ()
    #: column name (<= 10 characters) when written to a shapefile; defaults to ``name``
    shp: str | None = None
    #: personal data: never shown in public (公示) views
    private: bool = False
    #: inclusive bounds of numeric fields
    min: float | None = None
    max: float | None = None

    @field_validator("vocab")
    @classmethod
    def _vocab_exists(cls, v: str | None) -> str | None:
        if v is not None and not isinstance(getattr(vocab_module, v, None), dict):
            raise ValueError(f"vocabulary {v!r} is not a dict in geo_enforce.ledger.vocab")
        return v

    @model_validator(mode="after")
    def _check(self) -> FieldSpec:
        if len(self.shp_name) > 10:
            raise ValueError(
                f"field {self.name}: shapefile name {self.shp_name!r} is longer than 10 "
                "characters; give a short `shp:` name"
            )
        if self.default is not None and self.vocab and self.default not in self.values:
            raise ValueError(f"field {self.name}: default {self.default!r} not in {self.vocab}")
        return self

    @property
    def shp_name(self) -> str:
        """The field's (at most 10 character) shapefile column name."""
        return self.shp or self.name

    @property
    def values(self) -> dict[str, str]:
        """Allowed values → Chinese labels (empty when the field is free)."""
        return dict(getattr(vocab_module, self.vocab)) if self.vocab else {}

    def source_names(self) -> list[str]:
        """Every source column name that maps to this field (exact spellings)."""
        names = [self.name, self.zh, *self.aliases]
        if self.shp:
            names.append(self.shp)
        return names

    def value_lookup(self) -> dict[str, str]:
        """Accepted spellings (identifier, Chinese label, case-folded identifier) → identifier."""
        out: dict[str, str] = {}
        for key, zh in self.values.items():
            out[key] = key
            out[key.lower()] = key
            out[zh] = key
        return out


class StyleSpec(BaseModel):
    """A layer's map style: colours by one field's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str | None = None
    colors: dict[str, str] = Field(default_factory=dict)
    default_color: str = "#3388ff"
    fill_opacity: float = Field(0.4, ge=0, le=1)
    weight: float = Field(1.0, ge=0)

    def color_for(self, value: Any) -> str:
        """The colour of a feature whose styled field holds ``value``."""
        return (
            self.colors.get(str(value), self.default_color)
            if value is not None
            else (self.default_color)
        )


class LayerSpec(BaseModel):
    """One layer: title, table, natural key, fields and style."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    zh: str
    description: str
    table: str
    geometry_type: Literal["MultiPolygon", "MultiLineString"]
    key: str
    fields: tuple[FieldSpec, ...]
    style: StyleSpec
    #: line layers: safety distance (m, on the ellipsoid) per value of the field ``kind``
    safety_distances_m: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> LayerSpec:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"layer {self.name}: duplicate field names")
        if self.key not in names or not self.field(self.key).required:
            raise ValueError(f"layer {self.name}: key {self.key!r} must be a required field")
        seen: dict[str, str] = {}
        for f in self.fields:
            for alias in {n.casefold() for n in f.source_names()}:
                if alias in seen and seen[alias] != f.name:
                    raise ValueError(
                        f"layer {self.name}: source name {alias!r} maps to both "
                        f"{seen[alias]} and {f.name}"
                    )
                seen[alias] = f.name
        shp = [f.shp_name for f in self.fields]
        if len(set(shp)) != len(shp):
            raise ValueError(f"layer {self.name}: duplicate shapefile column names")
        if self.safety_distances_m:
            if "kind" not in names:
                raise ValueError(f"layer {self.name}: safety_distances_m needs a field kind")
            kinds = self.field("kind").values
            unknown = set(self.safety_distances_m) - set(kinds)
            if unknown or any(not 0 < d <= 1000 for d in self.safety_distances_m.values()):
                raise ValueError(
                    f"layer {self.name}: safety_distances_m needs metres in (0, 1000] for "
                    f"values of kind ({', '.join(kinds)}); got {dict(self.safety_distances_m)}"
                )
        if self.style.by is not None:
            by = self.field(self.style.by)
            unknown = set(self.style.colors) - set(by.values) if by.vocab else set()
            if unknown:
                raise ValueError(f"layer {self.name}: style colours for unknown values {unknown}")
        return self

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``; NotFound otherwise."""
        for f in self.fields:
            if f.name == name:
                return f
        raise NotFound(f"layer {self.name} has no field {name!r}")

    @property
    def required(self) -> list[FieldSpec]:
        """The fields every feature must carry."""
        return [f for f in self.fields if f.required]

    def source_index(self) -> dict[str, str]:
        """Case-folded source column name → field name."""
        return {n.casefold(): f.name for f in self.fields for n in f.source_names()}


class Catalogue(BaseModel):
    """The layer catalogue: every layer by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    layers: dict[str, LayerSpec]
    path: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("layers"), dict):
            data = dict(data)
            data["layers"] = {
                k: {**v, "name": k} if isinstance(v, dict) else v for k, v in data["layers"].items()
            }
        return data

    def layer(self, name: str) -> LayerSpec:
        """The layer called ``name``; NotFound (listing the known layers) otherwise."""
        try:
            return self.layers[name]
        except KeyError:
            raise NotFound(
                f"unknown layer {name!r}; known layers: {', '.join(sorted(self.layers))}"
            ) from None


def catalogue_path(path: str | Path | None = None) -> Path:
    """``path`` as a Path, or the packaged catalogue when None."""
    return Path(path) if path is not None else DEFAULT_PATH


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate the catalogue at ``path`` (the packaged one when None), strictly."""
    p = catalogue_path(path)
    if not p.exists():
        raise ConfigError(f"layer catalogue {p} not found (set GEO_ENFORCE_CATALOGUE)")
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=loader)
        return Catalogue.model_validate({**data, "path": p})
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"layer catalogue {p} is invalid: {exc}") from exc


@lru_cache(maxsize=4)
def _cached(path: Path) -> Catalogue:
    return load_catalogue(path)


def get_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue at ``path`` (the packaged one when None), loaded once per path."""
    return _cached(catalogue_path(path).resolve())


def layer_title(name: str, catalogue: Catalogue | None = None) -> str:
    """The Chinese title of a layer (its ``zh``), the one title maps, sheets and reports show."""
    return (catalogue or get_catalogue()).layer(name).zh


class LayerTitles(Mapping[str, str]):
    """Layer name → Chinese title for a fixed set of layers, read from the catalogue on use.

    Modules list the layers they serve at import time without reading the catalogue then.
    """

    def __init__(self, names: Iterable[str]):
        self._names = tuple(names)

    def __getitem__(self, name: str) -> str:
        if name not in self._names:
            raise KeyError(name)
        return layer_title(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def parse_bool(value: Any) -> bool | None:
    """Booleans as spreadsheets write them (是/否, Y/N, 1/0, true/false); None when unknown."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_date(value: Any) -> dt.date | None:
    """Dates as ``2024-03-05``, ``2024/3/5``, ``20240305`` or ``2024年3月5日``; None when not."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    s = str(value).strip()
    for a, b in (("年", "-"), ("月", "-"), ("日", ""), ("/", "-"), (".", "-")):
        s = s.replace(a, b)
    s = s.split("T")[0].split(" ")[0]
    try:
        if len(s) == 8 and s.isdigit():
            return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
        y, m, d = (int(x) for x in s.split("-"))
        return dt.date(y, m, d)
    except ValueError:
        return None
