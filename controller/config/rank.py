"""The `benchmarkingjob.rank` section: how the leaderboard is sorted, filtered and saved."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Order = Literal["ascend", "descend"]


class _Section(BaseModel):
    # extra keys are kept so the loader can warn about them by name (typos must be visible)
    model_config = ConfigDict(extra="allow", frozen=True)


class Visualization(_Section):
    mode: Literal["selected_only", "all"] = "selected_only"
    method: Literal["print_table"] = "print_table"


class SelectedDataItem(_Section):
    """Which columns make selected_rank.csv; ``["all"]`` keeps every one of that kind."""

    paradigms: list[str] = Field(default_factory=lambda: ["all"])
    modules: list[str] = Field(default_factory=lambda: ["all"])
    hyperparameters: list[str] = Field(default_factory=lambda: ["all"])
    metrics: list[str] = Field(default_factory=lambda: ["all"])


class RankConfig(_Section):
    """``sort_by`` is a list of one-key maps ``{metric: ascend|descend}``; list order = priority."""

    sort_by: list[dict[str, Order]] = Field(default_factory=list)
    visualization: Visualization = Field(default_factory=Visualization)
    selected_dataitem: SelectedDataItem = Field(default_factory=SelectedDataItem)
    save_mode: Literal["selected_and_all", "selected_only", "selected_and_all_and_picture"] = "selected_and_all"

    @field_validator("sort_by")
    @classmethod
    def _one_key_each(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for item in value:
            if len(item) != 1:
                raise ValueError(f"each sort_by item must map exactly one metric to ascend|descend, got {item}")
        return value

    @property
    def sort_keys(self) -> list[tuple[str, bool]]:
        """[(metric, ascending)] in priority order."""
        return [(metric, order == "ascend") for item in self.sort_by for metric, order in item.items()]
