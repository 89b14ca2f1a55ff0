"""``nuner annotate``'s settings: the LLM endpoint, its limits and prices (``NUNER_ANNOTATE_*``)."""

from __future__ import annotations

from pydantic import Field

from nuner.core.settings import NunerSettings


class AnnotateSettings(NunerSettings):
    # --- LLM annotation (nuner annotate) ---------------------------------------
    annotate_base_url: str = Field(
        default="http://127.0.0.1:8000/v1",
        description="OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, Ollama, TGI).",
    )
    annotate_model: str = Field(default="gpt-3.5-turbo", description="Model name sent.")
    annotate_api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Environment variable holding the API key (the key is never logged).",
    )
    annotate_temperature: float = Field(default=0.0, ge=0, le=2)
    annotate_max_tokens: int = Field(default=512, ge=1)
    annotate_concurrency: int = Field(default=8, ge=1, description="Requests in flight.")
    annotate_timeout_s: float = Field(default=60.0, gt=0, description="Per request.")
    annotate_max_retries: int = Field(default=6, ge=0)
    annotate_price_input_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per million prompt tokens, for the cost estimate."
    )
    annotate_price_output_per_mtok: float | None = Field(
        default=None, ge=0, description="USD per million completion tokens."
    )
