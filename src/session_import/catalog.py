"""What the configuration may name: each supported action (its fields, their mandatory
defaults, its options), the provider's options, the consolidators, the publishers.

The configuration parser validates against these tables and the mapping reads
rows with them, so a field's name and default are written in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SESSION_ACTION = "createOrUpdateSessionAction"
TRAINING_ACTION = "createOrUpdateTrainingCourseAction"
LEARNER_ACTION = "createOrUpdateLearnerAction"
ENTITY_ACTION = "createOrUpdateEntityAction"

IGNORED_COLUMN = "ignoredColumn"

# Meanings of code-list fields; the codes themselves are configurable.
CREATE_UPDATE = "createUpdate"
CANCEL = "cancel"
OPEN = "open"
CLOSED = "closed"

# a snapshot feed's options (the session action's): what becomes of a session of the import
# that no row of the file matched
MISSING_SESSIONS = "missingSessions"
MISSING_SCOPE = "missingScope"
MISSING_TRAININGS = "missingTrainings"


@dataclass(frozen=True)
class CodeList:
    """A field whose cell is a code: meaning -> default code."""

    defaults: dict[str, str]


@dataclass(frozen=True)
class ActionSchema:
    name: str
    # field name -> mandatory by default
    fields: dict[str, bool]
    code_lists: dict[str, CodeList] = field(default_factory=dict)
    # option name holding the search fields, and the fields it may name
    search_option: str | None = None
    search_fields: tuple[str, ...] = ()
    search_option_mandatory: bool = False
    # fields of which at least one must be configured (and, per row, filled)
    at_least_one: tuple[str, ...] = ()
    # fields that may be listed more than once in <fields>
    repeatable: tuple[str, ...] = ()
    # the code-list field saying what a row does; left out of <fields>, every row is
    # createUpdate (SPEC section 4: M is the default when the column is absent)
    action_field: str | None = None
    # fields the action finds its records by: mandatory whatever <mandatory> says
    key_fields: tuple[str, ...] = ()
    # options that make a file the complete set of the import's records (a snapshot feed):
    # option -> the values it takes, its default first
    snapshot_options: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def options(self) -> tuple[str, ...]:
        names = ["fullAccess", *self.snapshot_options]
        if self.search_option:
            names.insert(0, self.search_option)
        return tuple(names)


ACTION_CODES = CodeList({CREATE_UPDATE: "M", CANCEL: "A"})

SESSION = ActionSchema(
    name=SESSION_ACTION,
    fields={
        "sessionAction": True,
        "sessionStatus": False,
        "sessionGuid": False,
        "sessionStartDate": False,
        "sessionEndDate": False,
        "sessionTitle": True,
        "sessionId": False,
        "teacherLogin": True,
        "trainingPathCode": False,
        "trainingId": False,
        "trainingTitle": False,
        "groupName": False,
        "groupGuid": False,
    },
    code_lists={
        "sessionAction": ACTION_CODES,
        "sessionStatus": CodeList({OPEN: "open", CLOSED: "closed"}),
    },
    search_option="sessionSearchField",
    search_fields=(
        "sessionGuid",
        "sessionTitle",
        "sessionId",
        "sessionStartDate",
        "sessionEndDate",
    ),
    search_option_mandatory=True,
    at_least_one=("trainingPathCode", "trainingId", "trainingTitle"),
    action_field="sessionAction",
    snapshot_options={
        MISSING_SESSIONS: ("keep", "cancel"),
        MISSING_SCOPE: ("future", "all"),
        MISSING_TRAININGS: ("all", "mentioned"),
    },
)

TRAINING = ActionSchema(
    name=TRAINING_ACTION,
    fields={
        "trainingAction": True,
        "trainingPathCode": True,
        "trainingTitle": True,
        "trainingLocale": False,
        "trainingModality": True,
        "trainingDescription": False,
    },
    code_lists={"trainingAction": ACTION_CODES},
    action_field="trainingAction",
    key_fields=("trainingPathCode",),
)

LEARNER = ActionSchema(
    name=LEARNER_ACTION,
    fields={
        "candidateLogin": False,
        "candidateRefNumber": False,
        "candidateEmail": False,
        "candidateName": False,
        "candidateFirstname": False,
    },
    search_option="traineeSearchField",
    search_fields=("candidateLogin", "candidateRefNumber", "candidateEmail"),
    at_least_one=("candidateLogin", "candidateRefNumber", "candidateEmail"),
)

ENTITY = ActionSchema(
    name=ENTITY_ACTION,
    fields={"hierarchyEntityName": True},
    repeatable=("hierarchyEntityName",),
)

ACTIONS: dict[str, ActionSchema] = {s.name: s for s in (SESSION, TRAINING, LEARNER, ENTITY)}

MODALITIES = ("distancelearning", "knowledgecommunity", "learning_channel", "blended")

# CrossKnowledge actions and consolidators we know of but do not implement:
# refused by name rather than as unknown elements.
UNSUPPORTED_CK_ACTIONS = (
    "registerLearnerAction",
    "createOrUpdateInterventionAction",
    "createOrUpdateConsolidatedTrackingAction",
)
UNSUPPORTED_CK_CONSOLIDATORS = (
    "massDisableLearners",
    "deleteOldRegistrations",
    "deleteOldSessions",
    "deleteEmptySessions",
    "timeLogger",
    "removeFromSFTP",
    "removeFromSftp",
    "cleanFolder",
)

# CrossKnowledge fields of the supported actions that this tool does not implement.
UNSUPPORTED_CK_FIELDS = (
    "candidateValidity",
    "candidateTimeZone",
    "enabledFrom",
    "enabledUntil",
    "entityGuid",
    "entityId",
    "entityName",
    "candidateLanguages",
    "presentation",
    "managerLogin",
    "managerRefNumber",
    "custom",
    "lovCodes",
    "trainingCost",
    "trainingDuration",
    "trainingWhatYouWillLearn",
    "trainingOverview",
    "trainingOutcomes",
    "trainingAudience",
    "trainingFurtherInformation",
    "trainingWelcomeText",
    "trainingScoreSuccessThreshold",
    "trainingScoresVisibleByLearners",
    "trainingSteps",
    "registerFlag",
    "registrationGuid",
    "registrationDate",
    "trainingGuid",
)

# Supported consolidators in CrossKnowledge's running order, with their options.
CONSOLIDATORS: dict[str, tuple[str, ...]] = {
    "timeStampedFileErrorLogger": ("location",),
    "moveToBackupConsolidator": ("backupFolder", "timestamp"),
    "emailReport": ("targetEmail",),
    "deleteProcessedFilesConsolidator": (),
}
# Ours: the page of each data file (session_import.pages), written next to the error log:
# its location, by default the timeStampedFileErrorLogger's.
HTML_REPORT = "htmlReport"
# Every consolidator a configuration may hold, in running order: the page is written right
# after the error log, so that the e-mail can attach it.
RUNNING_ORDER: dict[str, tuple[str, ...]] = {
    "timeStampedFileErrorLogger": CONSOLIDATORS["timeStampedFileErrorLogger"],
    HTML_REPORT: ("location",),
    **{
        name: options
        for name, options in CONSOLIDATORS.items()
        if name != "timeStampedFileErrorLogger"
    },
}

# Options of CrossKnowledge's generic import that this tool does not implement. Their values
# (an sFTP password among them) are never read, so no message can echo them.
UNSUPPORTED_CK_OPTIONS = (
    "sftpHost",
    "sftpLogin",
    "sftpPassword",
    "sftpFolder",
    "sftpFile",
    "sftpFileName",
    "defaultEntityId",
    "defaultLangCode",
    "trainingSearchField",
    "includeDownloadLink",
)
UNSUPPORTED_CK_PROCESSES = ("preProcess", "postProcess")

PROVIDER_OPTIONS = (
    "fileName",
    "path",
    "skipFirstLine",
    "columnsMapping",
    "fileEncoding",
    "delimiter",
    "autoDetectLineEndings",
    "sheetName",
    "timezone",
    "dateFormat",
)

DELIMITERS = {"semicolon": ";", "comma": ",", "pipe": "|", "tab": "\t", "tabulation": "\t"}

CONSOLIDATOR_REQUIRED_OPTION = {
    "timeStampedFileErrorLogger": "location",
    "moveToBackupConsolidator": "backupFolder",
    "emailReport": "targetEmail",
}
CONSOLIDATOR_FOLDER_OPTIONS = ("location", "backupFolder")

# Remote LMSs a change is published to (SPEC section 9): element -> publisher name.
PUBLISHERS = {"perculusPublisher": "perculus", "zohoPeoplePublisher": "zoho"}

# option -> (settings key, kind); kinds: url, int:low:high, seconds, zone, text
PUBLISHER_OPTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "perculusPublisher": {
        "baseUrl": ("base_url", "url"),
        "batchSize": ("batch_size", "int:1:1000"),
        "timezone": ("timezone", "zone"),
        "defaultDuration": ("default_duration", "int:5:360"),
        "timeout": ("read_timeout", "seconds"),
    },
    "zohoPeoplePublisher": {
        "baseUrl": ("base_url", "url"),
        "accountsUrl": ("accounts_url", "url"),
        "courseId": ("course_id", "text"),
        "batchId": ("batch_id", "text"),
        "moduleId": ("module_id", "text"),
        "maxRequests": ("max_requests", "int:1:10000"),
        "windowSeconds": ("window_seconds", "seconds"),
        "lockSeconds": ("lock_seconds", "seconds"),
        "timeout": ("timeout", "seconds"),
    },
}

PUBLISHER_REQUIRED = {
    "perculusPublisher": ("baseUrl",),
    "zohoPeoplePublisher": ("baseUrl", "accountsUrl"),
}

ZOHO_TRAINING_IDS = ("pathCode", "courseId", "batchId", "moduleId")
