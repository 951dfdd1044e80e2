"""The fluorescent indicators and sensors nwb-cascade recognises, what each measures, and where that is written.

One table, :data:`SENSORS`: each row names an indicator (or a family, or a phrase), how free text
writes it (an imaging plane's ``indicator``, a genotype, a series name or description), what its
fluorescence measures, and the publication that says so.  Cascade's models were trained on the
ΔF/F of calcium indicators whose fluorescence rises with the calcium of spiking neurons
(Rupprecht et al. 2021, Nat Neurosci 24:1324-1337: OGB-1, Cal-520, GCaMP5k, GCaMP6f/s, GCaMP7f,
R-CaMP1.07, jRCaMP1a, jRGECO1a, XCaMP-Gf); only rows that measure :data:`CALCIUM` are read as such.
Everything else (transmitter and neuromodulator sensors, voltage and pH sensors, calcium signals of
another kind, structural fluorescent proteins) is refused by the workflows unless forced.

Rows are tried in order and each stretch of text counts for the first row that matches it, so
specific names (``jGCaMP8s``) come before families (``GCaMP``) and phrases (``calcium imaging``).
A row that is not ``specific`` names no particular indicator: it says what is measured, not which
model suits it.  An indicator the table does not know is taken for a calcium indicator (the general
model), and the reason says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CALCIUM = "calcium"
GLUTAMATE = "glutamate"
GABA = "GABA"
ACETYLCHOLINE = "acetylcholine"
DOPAMINE = "dopamine"
SEROTONIN = "serotonin"
NOREPINEPHRINE = "norepinephrine"
ADENOSINE = "adenosine"
ATP = "ATP"
ENDOCANNABINOIDS = "endocannabinoids"
NEUROMODULATOR = "a neuromodulator"
VOLTAGE = "membrane voltage"
PH = "pH (vesicle release)"
CALCIUM_INTEGRATED = "calcium integrated over a light pulse (photoconversion)"
CALCIUM_RATIO = "calcium as a two-wavelength ratio"
CALCIUM_INVERSE = "calcium, inversely (fluorescence falls as calcium rises)"
STRUCTURAL = "nothing that changes with activity (a structural fluorescent protein)"

#: No letter or digit just before / after: the name is not part of a longer word.
_B = r"(?<![a-z0-9])"
_E = r"(?![a-z0-9])"


@dataclass(frozen=True)
class Sensor:
    """One row of the table.

    Attributes
    ----------
    name
        Canonical spelling; ``{}`` is filled with the pattern's groups (``jGCaMP8{}`` -> ``jGCaMP8s``);
        empty: the words as written.
    measures
        What its fluorescence follows (:data:`CALCIUM` for the indicators Cascade reads).
    pattern
        How free text writes it (case-insensitive).
    source
        The publication (or supplier) that describes it.
    specific
        Whether it names one indicator (False: a family or a phrase).
    """

    name: str
    measures: str
    pattern: re.Pattern
    source: str
    specific: bool = True


def _row(name: str, measures: str, pattern: str, source: str, specific: bool = True) -> Sensor:
    return Sensor(name, measures, re.compile(pattern, re.IGNORECASE), source, specific)


_GP = "Dana et al. 2014, PLoS ONE 9:e108697 (Thy1-GCaMP6 lines)"
_AI_2015 = "Madisen et al. 2015, Neuron 85:942-958 (Ai93-Ai96 reporter lines)"
_AI_2018 = "Daigle et al. 2018, Cell 174:465-480 (Ai148, Ai162 reporter lines)"
_JING_2020 = "Jing et al. 2020, Nat Methods 17:1139-1146 (GACh3.0, rACh1h)"

#: The table (see the module docstring).
SENSORS: tuple[Sensor, ...] = (
    # calcium indicators Cascade reads: genetically encoded
    _row("jGCaMP8{}", CALCIUM, _B + r"j?g(?:camp|c)\s*-?\s*8\s*-?\s*([fms])(?![a-z])",
         "Zhang et al. 2023, Nature 615:884-891"),
    _row("GCaMP8", CALCIUM, _B + r"j?g(?:camp|c)\s*-?\s*8" + _E, "Zhang et al. 2023, Nature 615:884-891"),
    _row("jGCaMP7{}", CALCIUM, _B + r"j?g(?:camp|c)\s*-?\s*7\s*-?\s*([fsbc])(?![a-z])",
         "Dana et al. 2019, Nat Methods 16:649-657"),
    _row("GCaMP6{}", CALCIUM, _B + r"g(?:camp|c)\s*-?\s*6\s*-?\s*([fms])(?![a-z])",
         "Chen et al. 2013, Nature 499:295-300"),
    _row("GCaMP5k", CALCIUM, r"gcamp\s*-?\s*5k", "Akerboom et al. 2012, J Neurosci 32:13819-13840"),
    _row("GCaMP6f", CALCIUM, r"\b(?:ai93|ai95|ai148)\b", f"{_AI_2015}; {_AI_2018}"),
    _row("GCaMP6s", CALCIUM, r"\b(?:ai94|ai96|ai162)\b", f"{_AI_2015}; {_AI_2018}"),
    _row("GCaMP6s", CALCIUM, r"\bgp4\.(?:3|12)\b", _GP),
    _row("GCaMP6f", CALCIUM, r"\bgp5\.(?:5|11|17)\b", _GP),
    _row("GCaMP5", CALCIUM, r"gcamp\s*-?\s*5", "Akerboom et al. 2012, J Neurosci 32:13819-13840"),
    _row("GCaMP3", CALCIUM, r"gcamp\s*-?\s*3(?![0-9])", "Tian et al. 2009, Nat Methods 6:875-881"),
    _row("XCaMP", CALCIUM, r"xcamp", "Inoue et al. 2019, Cell 177:1346-1360"),
    _row("jRGECO1a", CALCIUM, r"j?rgeco\s*-?\s*1a", "Dana et al. 2016, eLife 5:e12727"),
    _row("R-CaMP", CALCIUM, r"r-?camp", "Ohkura et al. 2012, PLoS ONE 7:e51286; Dana et al. 2016, eLife 5:e12727"),
    # calcium signals of another kind (before the families whose names they contain)
    _row("NIR-GECO", CALCIUM_INVERSE, r"nir\s*-?\s*geco\w*", "Qian et al. 2019, Nat Methods 16:171-174"),
    _row("CaMPARI", CALCIUM_INTEGRATED, r"campari\w*", "Fosque et al. 2015, Science 347:755-760; "
         "Moeyaert et al. 2018, Nat Commun 9:4440"),
    _row("Fura-2", CALCIUM_RATIO, _B + r"fura\s*-?\s*2", "Grynkiewicz, Poenie & Tsien 1985, J Biol Chem 260:3440-3450"),
    _row("Indo-1", CALCIUM_RATIO, _B + r"indo\s*-?\s*1", "Grynkiewicz, Poenie & Tsien 1985, J Biol Chem 260:3440-3450"),
    _row("", CALCIUM, _B + r"(?:j?[rgbko]|lar)\s*-?\s*geco\s*-?\s*\d*[a-z]?" + _E,
         "Zhao et al. 2011, Science 333:1888-1891 (the GECO family)"),
    _row("", CALCIUM, _B + r"(?:yellow\s+)?cameleon|" + _B + r"yc\s*-?\s*\d(?:\.\d+)?" + _E + r"|tn\s*-?\s*xxl|"
         + _B + r"twitch\s*-?\s*\d\w*",
         "Miyawaki et al. 1997, Nature 388:882-887; Mank et al. 2008, Nat Methods 5:805-811; "
         "Thestrup et al. 2014, Nat Methods 11:175-182 (FRET indicators: the ratio change is read as ΔF/F)"),
    # calcium dyes
    _row("OGB-1", CALCIUM, r"ogb\s*-?\s*1|oregon\s*green", "Rupprecht et al. 2021, Nat Neurosci 24:1324-1337 "
         "(Oregon Green BAPTA-1, a ground-truth indicator)"),
    _row("Cal-520", CALCIUM, r"cal\s*-?\s*520", "Tada et al. 2014, Eur J Neurosci 39:1720-1728"),
    _row("Cal-590", CALCIUM, r"cal\s*-?\s*590", "Tischbirek et al. 2015, PNAS 112:11377-11382"),
    _row("", CALCIUM, _B + r"fluo\s*-?\s*[348]" + _E, "Gee et al. 2000, Cell Calcium 27:97-106 (Fluo-4)"),
    _row("Rhod-2", CALCIUM, _B + r"rhod\s*-?\s*2" + _E, "Minta, Kao & Tsien 1989, J Biol Chem 264:8171-8178"),
    # the GCaMP family, variant not stated
    _row("GCaMP", CALCIUM, _B + r"j?g-?camp\w*", "Nakai, Ohkura & Imoto 2001, Nat Biotechnol 19:137-141", False),
    # transmitter and neuromodulator sensors
    _row("", GLUTAMATE, r"(?:sf\s*-?\s*)?i?glu\s*-?\s*snfr\s*-?\s*\d?", "Marvin et al. 2013, Nat Methods 10:162-170; "
         "Marvin et al. 2018, Nat Methods 15:936-939 (SF-iGluSnFR); Aggarwal et al. 2023, Nat Methods 20:925-934 "
         "(iGluSnFR3)"),
    _row("iGABASnFR", GABA, r"i?gaba\s*-?\s*snfr\d?", "Marvin et al. 2019, Nat Methods 16:763-770"),
    _row("", ACETYLCHOLINE, _B + r"(?:grab\s*[-_]?\s*)?[gr]?\s*-?\s*ach\s*-?\s*\d(?:\.\d)?[a-z]?" + _E,
         f"Jing et al. 2018, Nat Biotechnol 36:726-737 (GACh2.0); {_JING_2020}"),
    _row("", ACETYLCHOLINE, _B + r"(?:grab\s*[-_]\s*ach|g-?ach|r-?ach)" + _E, _JING_2020),
    _row("iAChSnFR", ACETYLCHOLINE, r"i?ach\s*-?\s*snfr", "Borden et al. 2020, bioRxiv 2020.02.07.939504"),
    _row("", DOPAMINE, _B + r"[rg]?dlight\s*\d*(?:\.\d+[a-z]?)?", "Patriarchi et al. 2018, Science 360:eaat4422; "
         "Patriarchi et al. 2020, Nat Methods 17:1147-1155 (RdLight1)"),
    _row("", DOPAMINE, r"grab\s*[-_]?\s*r?da\w*|" + _B + r"r?da\s*[1-3]\s*[mh]" + _E,
         "Sun et al. 2018, Cell 174:481-496; Sun et al. 2020, Nat Methods 17:1156-1166"),
    _row("", SEROTONIN, r"grab\s*[-_]?\s*5\s*-?\s*ht\w*|" + _B + r"g?5\s*-?\s*ht\s*\d\.\d|i?sero\s*snfr|psychlight",
         "Wan et al. 2021, Nat Neurosci 24:746-752; Unger et al. 2020, Cell 183:1986-2002 (iSeroSnFR); "
         "Dong et al. 2021, Cell 184:2779-2792 (psychLight)"),
    _row("", NOREPINEPHRINE, r"grab\s*[-_]?\s*ne\w*|" + _B + r"g?ne\s*[12]\s*[mh]" + _E + r"|nlightg",
         "Feng et al. 2019, Neuron 102:745-761; Kagiampaki et al. 2023, Nat Methods (nLightG)"),
    _row("GRAB-Ado", ADENOSINE, r"grab\s*[-_]?\s*ado\w*", "Peng et al. 2020, Science 369:eabb0556"),
    _row("GRAB-ATP", ATP, r"grab\s*[-_]?\s*atp\w*", "Wu et al. 2022, Neuron 110:770-782"),
    _row("GRAB-eCB", ENDOCANNABINOIDS, r"grab\s*[-_]?\s*ecb\w*", "Dong et al. 2022, Nat Biotechnol 40:787-798"),
    _row("", NEUROMODULATOR, r"grab\s*[-_]\s*\w+", "Sun et al. 2018, Cell 174:481-496 (the GRAB family)"),
    # voltage sensors
    _row("", VOLTAGE, _B + r"asap\s*-?\s*\d?[a-z]?" + _E, "St-Pierre et al. 2014, Nat Neurosci 17:884-889; "
         "Villette et al. 2019, Cell 179:1590-1608 (ASAP3)"),
    _row("", VOLTAGE, r"voltron\s*\d?", "Abdelfattah et al. 2019, Science 365:699-704"),
    _row("ArcLight", VOLTAGE, r"arclight", "Jin et al. 2012, Neuron 75:779-785"),
    _row("", VOLTAGE, r"(?:som)?archon\s*\d?", "Piatkevich et al. 2018, Nat Chem Biol 14:352-360"),
    _row("", VOLTAGE, _B + r"quasar\s*\d?", "Hochbaum et al. 2014, Nat Methods 11:825-833"),
    _row("", VOLTAGE, r"ace2n\w*", "Gong et al. 2015, Science 350:1361-1366"),
    _row("JEDI-2P", VOLTAGE, _B + r"jedi\s*-?\s*2p", "Liu et al. 2022, Cell 185:3408-3425"),
    # pH sensors
    _row("", PH, r"phluorin|syphy", "Miesenböck, De Angelis & Rothman 1998, Nature "
         "394:192-195; Granseth et al. 2006, Neuron 51:773-786 (sypHy)"),
    # phrases that name what is measured, not which indicator
    _row("calcium indicator (not named)", CALCIUM,
         r"calcium\s+(?:imaging|indicator|sensor|dye|signal)|" + _B + r"gecis?" + _E + r"|" + _B + r"ca\s*2\s*\+",
         "a phrase (no indicator named)", False),
    _row("glutamate sensor (not named)", GLUTAMATE, r"glutamate\s+(?:sensor|indicator|imaging)",
         "a phrase (no sensor named)", False),
    _row("GABA sensor (not named)", GABA, _B + r"gaba\s+(?:sensor|indicator|imaging)", "a phrase (no sensor named)",
         False),
    _row("acetylcholine sensor (not named)", ACETYLCHOLINE, r"acetylcholine\s+(?:sensor|indicator|imaging)",
         "a phrase (no sensor named)", False),
    _row("dopamine sensor (not named)", DOPAMINE, r"dopamine\s+(?:sensor|indicator|imaging)",
         "a phrase (no sensor named)", False),
    _row("serotonin sensor (not named)", SEROTONIN, r"serotonin\s+(?:sensor|indicator|imaging)",
         "a phrase (no sensor named)", False),
    _row("norepinephrine sensor (not named)", NOREPINEPHRINE,
         r"(?:norepinephrine|noradrenaline)\s+(?:sensor|indicator|imaging)", "a phrase (no sensor named)", False),
    _row("voltage indicator (not named)", VOLTAGE,
         r"voltage\s*(?:-\s*sensitive\s+dye|imaging|indicator|sensor)|" + _B + r"gevis?" + _E,
         "a phrase (no indicator named)", False),
    # structural fluorescent proteins (cell labels beside an indicator, or a second channel)
    _row("tdTomato", STRUCTURAL, r"tdtomato|" + _B + r"tdt" + _E + r"|\b(?:ai9|ai14)\b",
         "Shaner et al. 2004, Nat Biotechnol 22:1567-1572; Madisen et al. 2010, Nat Neurosci 13:133-140 (Ai9, Ai14)"),
    _row("mCherry", STRUCTURAL, r"mcherry", "Shaner et al. 2004, Nat Biotechnol 22:1567-1572"),
    _row("mScarlet", STRUCTURAL, r"mscarlet", "Bindels et al. 2017, Nat Methods 14:53-56"),
    _row("mRuby", STRUCTURAL, r"mruby\d?", "Kredel et al. 2009, PLoS ONE 4:e4391"),
    _row("GFP", STRUCTURAL, _B + r"e?gfp" + _E, "Chalfie et al. 1994, Science 263:802-805"),
)


@dataclass(frozen=True)
class Mention:
    """A row of the table that a text names, with the name it gives (canonical) and the words it used."""

    sensor: Sensor
    name: str
    words: str

    @property
    def measures(self) -> str:
        return self.sensor.measures


def _spellings(text: str) -> tuple[str, ...]:
    """The text, and the text with its CamelCase words apart (``NeuronDLight1`` -> ``Neuron DLight1``)."""
    apart = re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", " ", text)
    return (text,) if apart == text else (text, apart)


def mentions(text: str | None) -> list[Mention]:
    """Every row of :data:`SENSORS` that ``text`` names, in table order (each stretch of text counted for the
    first row that matches it; a name counted once).  CamelCase words are also read apart (a row found in
    the text as written is not looked for again in them)."""
    found: dict[tuple[int, str], Mention] = {}
    for spelling in _spellings(str(text or "")):
        seen = {index for index, _ in found}
        remaining = spelling
        for index, sensor in enumerate(SENSORS):
            if index not in seen:
                for match in sensor.pattern.finditer(remaining):
                    groups = [group.lower() for group in match.groups() if group is not None]
                    name = sensor.name.format(*groups) if sensor.name else re.sub(r"\s+", " ", match.group(0).strip())
                    found.setdefault((index, name.lower()), Mention(sensor, name, match.group(0)))
            remaining = sensor.pattern.sub(lambda match: " " * len(match.group(0)), remaining)
    return [found[key] for key in sorted(found, key=lambda key: key[0])]


def measured_by(name: str | None) -> str | None:
    """What the indicator or sensor ``name`` measures (the first row it names), or None when the table does not
    know it."""
    named = mentions(name)
    return named[0].measures if named else None
