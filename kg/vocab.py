"""Namespaces as code: a typo in a term name fails loudly, and editors complete names.

>>> HEARTH.Household
<NamedNode value=https://w3id.org/hearth#Household>
>>> HEARTH.Housheold
Traceback (most recent call last):
...
AttributeError: 'Housheold' is not a term of https://w3id.org/hearth#; did you mean: Household, household, householdId?
"""

from __future__ import annotations

import difflib

from pyoxigraph import NamedNode


class Vocabulary:
    """A closed namespace: only the listed terms exist."""

    def __init__(self, prefix: str, base: str, terms: str):
        self.prefix = prefix
        self.base = base
        self._terms = {name: NamedNode(base + name) for name in terms.split()}
        for name, term in self._terms.items():  # plain attributes: fast lookups on hot paths
            if name in ("prefix", "base", "names") or name.startswith("_"):
                raise ValueError(f"term {name!r} would shadow an attribute of Vocabulary")
            self.__dict__[name] = term

    def __getattr__(self, name: str) -> NamedNode:
        try:
            return self.__dict__["_terms"][name]
        except KeyError:
            close = difflib.get_close_matches(name, self.__dict__["_terms"], n=3)
            hint = f"; did you mean: {', '.join(close)}?" if close else ""
            raise AttributeError(f"{name!r} is not a term of {self.base}{hint}") from None

    def __getitem__(self, name: str) -> NamedNode:
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self._terms

    def __iter__(self):
        return iter(self._terms.values())

    def names(self) -> list[str]:
        return list(self._terms)

    def __repr__(self) -> str:
        return f"Vocabulary({self.prefix}: <{self.base}>, {len(self._terms)} terms)"


class OpenNamespace:
    """A namespace whose terms are open-ended (data, not vocabulary)."""

    def __init__(self, prefix: str, base: str):
        self.prefix = prefix
        self.base = base

    def __getitem__(self, local: str) -> NamedNode:
        return NamedNode(self.base + local)

    def __repr__(self) -> str:
        return f"OpenNamespace({self.prefix}: <{self.base}>)"


HEARTH_NS = "https://w3id.org/hearth#"

# The engine's own ontology; every name here is declared in ontologies/hearth.ttl (a test checks).
HEARTH = Vocabulary("hearth", HEARTH_NS, """
    Household Person Area Room Floor Device Sensor Actuator Light Switch Thermostat Lock Cover
    GarageDoor Door Fan MediaPlayer Television Speaker Vacuum Appliance ContactSensor MotionSensor
    TemperatureSensor Property Observation StateChange DeviceState Command Actuation Utterance
    Session Turn Skill Intent Slot Activity Goal Hunch Suggestion Routine Rule Inference
    CalendarEntry Definition Component
    Event InputEvent Conclusion
    HouseholdCreated AreaAdded DeviceAdded PersonAdded SensorObserved DeviceStateChanged
    CommandIssued UtteranceHeard PersonArrived PersonLeft CalendarEntryAdded DefinitionTaught
    FactsAsserted EventRetracted FactInferred FloorAdded
    seq household device area floor person sensor attribute value unit kind text speaker session
    title start end phrase meaning retracts reason inArea onFloor currentState since isHome
    stateOf stateSeq recordedAt name command target deviceClass householdId meaning rule
    location isRetracted retractedBy ontologyDigest
    Concept ActivityKind GoalKind Need Signal ObjectKind AreaKind Affordance Quality TimeOfDay
    DayType ActionKind HunchKind ActivityInferred HunchRaised HunchAnswered hunch accepted
    ofKind signalledBy servesGoal needs affords uses typicalTime typicalDay typicalArea
    oftenFollowedBy hasPart broader relatedTo hasAspect oppositeOf achievedBy deviceType
    eventType objectKind areaKind forProperty hasCondition offersAction
    direction keyword startsAt endsAt typicalMinutes windowMinutes minSignals explanationTemplate
    Attribution Contribution attributionOf contribution method exactValues baseScore score
    errorEstimate featureName featureLabel featureValue shapleyValue standardError rank
    SuggestionMade activity confidence pattern suggestionKind expected actual hunchKind optsInTo
    AutomaticHunches
    Sample Quantity Percentage Temperature Duration Date MediaItem Color FreeText
    UtteranceInterpreted hasIntent hasSlot hasSample slotType required markup haIntent haDomain
    intentName skillName slots outOfScope
    FactsFetched FetchedFact term source fetchedAt fact factSubject factRelation factObject weight
    surfaceText targetValue ActivityAnnotated ActivityCorroborated corroborates modelConfidence
    ExplanationProvided Explanation explains explanationKind conclusionKind drawnBy restsOn
    hasAttribution missing heldBackBy
    Frame UserTurnMade SystemTurnMade FrameOpened FrameIntentChanged SlotFilled GoalsRanked
    SaidByUser CarriedOver InferredByRule OfferedBySystem
    frame inSession hasTurn holds turnIndex speakerRole utterance dialogueAct offers slotName
    valueType valueSource valueNode carriedFromSkill carriedFromSlot carriedFrom revises ranking
    offeredIntent goalModel
    RewriteLearned RewriteUndone PreferenceLearned UtteranceRewritten rewrittenAs supportSessions
    supportHouseholds sourceSuccess rewriteScope undoes appliedRewrite signalCounts matchedBy
    MeaningLearned misreadAs reach
    CommandTaught CommandForgotten TeachingRequested IntentDefined RoutineDefined RoutineRemoved
    RoutineRan Blueprint BlueprintParameter
    actions scope reply forgets examples trigger routine blueprint inputs hasParameter
    parameterType defaultValue
""")

SOSA = Vocabulary("sosa", "http://www.w3.org/ns/sosa/", """
    Observation Sensor ObservableProperty FeatureOfInterest Actuation Actuator Platform Result
    madeBySensor observedProperty hasFeatureOfInterest hasSimpleResult hasResult resultTime
    phenomenonTime madeObservation observes isHostedBy hosts actsOnProperty madeActuation
    madeByActuator usedProcedure
""")

SSN = Vocabulary("ssn", "http://www.w3.org/ns/ssn/", "System Property hasProperty isPropertyOf")

SAREF = Vocabulary("saref", "https://saref.etsi.org/core/", """
    Device Sensor Actuator Appliance Switch Meter Property State Command Function Measurement
    Temperature Humidity Light Power Motion Occupancy OnOffState OnState OffState OpenCloseState
    OpenState CloseState StartStopState Service FeatureOfInterest
    hasState hasCommand hasFunction isAccomplishedBy measuresProperty controlsProperty
    hasValue hasTimestamp isMeasuredIn relatesToProperty hasMeasurement makesMeasurement
""")

TIME = Vocabulary("time", "http://www.w3.org/2006/time#", """
    Instant Interval ProperInterval TemporalEntity
    hasBeginning hasEnd inXSDDateTimeStamp hasTime before after intervalBefore intervalAfter
    intervalMeets intervalOverlaps intervalDuring intervalContains
""")

PROV = Vocabulary("prov", "http://www.w3.org/ns/prov#", """
    Entity Activity Agent Person SoftwareAgent Bundle Plan
    generatedAtTime wasAttributedTo wasDerivedFrom wasGeneratedBy used wasAssociatedWith
    invalidatedAtTime wasInvalidatedBy wasRevisionOf hadPlan startedAtTime endedAtTime
""")

SCHEMA = Vocabulary("schema", "https://schema.org/", """
    Place Accommodation Residence Room House Action Person Event name description startDate endDate
    location containedInPlace agent object result actionStatus
""")

SKOS = Vocabulary("skos", "http://www.w3.org/2004/02/skos/core#", """
    Concept prefLabel altLabel definition related broader narrower
""")

RDF = Vocabulary("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "type Property langString first rest nil JSON")
RDFS = Vocabulary("rdfs", "http://www.w3.org/2000/01/rdf-schema#", """
    Class label comment subClassOf subPropertyOf domain range seeAlso isDefinedBy
""")
OWL = Vocabulary("owl", "http://www.w3.org/2002/07/owl#", """
    Class ObjectProperty DatatypeProperty Ontology NamedIndividual equivalentClass
    equivalentProperty inverseOf TransitiveProperty FunctionalProperty imports versionInfo
""")
XSD = Vocabulary("xsd", "http://www.w3.org/2001/XMLSchema#", """
    string boolean integer long decimal double float dateTime dateTimeStamp date time duration
    anyURI
""")
SH = Vocabulary("sh", "http://www.w3.org/ns/shacl#", """
    NodeShape PropertyShape targetClass targetSubjectsOf property path minCount maxCount datatype nodeKind IRI
    Literal BlankNodeOrIRI class in message name description or
""")
DCTERMS = Vocabulary("dcterms", "http://purl.org/dc/terms/", "title description created license source")

# Properties observed by sensors are open-ended (Home Assistant attributes, sensor kinds).
PROP = OpenNamespace("hprop", "https://w3id.org/hearth/property/")

# Commonsense knowledge about household life (ontologies/commonsense.ttl): open-ended individuals.
CS = OpenNamespace("cs", "https://w3id.org/hearth/commonsense#")

VOCABULARIES = (HEARTH, SOSA, SSN, SAREF, TIME, PROV, SCHEMA, SKOS, RDF, RDFS, OWL, XSD, SH,
                DCTERMS)

# Prefixes every household query may use without declaring them.
PREFIXES: dict[str, str] = {v.prefix: v.base for v in VOCABULARIES}
PREFIXES[PROP.prefix] = PROP.base
PREFIXES[CS.prefix] = CS.base
