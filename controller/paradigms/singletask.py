"""Single-task learning: train -> save -> load -> predict -> metrics."""

from __future__ import annotations

import logging
import time

from controller.paradigms.base import Paradigm, ParadigmOutput, scalar_metrics

log = logging.getLogger(__name__)


class SingleTaskLearning(Paradigm):
    def run(self) -> ParadigmOutput:
        train, test = self.load_data()
        context = self.context
        model = self.new_model()
        if self.spec.initial_model_url:
            model.load(self.spec.initial_model_url)
        started = time.perf_counter()
        log.info("training %s on %d samples", self.spec.algorithm, len(train))
        model.train(train, None, context=context)
        train_seconds = time.perf_counter() - started
        saved = model.save(context.path("output", "model", "model"))
        # a fresh instance proves the saved artefact alone reproduces the model
        model = self.new_model()
        model.load(saved)
        log.info("evaluating on %d test samples", len(test))
        evaluation = self.final_evaluation(lambda batch: model.predict(batch, context=context), test, context)
        rounds = [
            {
                "round": 1,
                "task": "all",
                "train_samples": len(train),
                "train_seconds": round(train_seconds, 3),
                "evaluate_seconds": round(evaluation.seconds, 3),
            }
        ]
        unknown = [m.name for m in self.suite.system_metrics()]
        if unknown:
            log.warning("metrics %s only exist for lifelong learning; left empty", ", ".join(unknown))
        return ParadigmOutput(
            metrics=scalar_metrics(evaluation.metrics) | {name: None for name in unknown},
            per_class=evaluation.per_class_iou(self.class_names),
            rounds=rounds,
            efficiency=self.efficiency(rounds, evaluation, model),
        )
