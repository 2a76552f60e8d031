"""The launch model: one global LightGBM model over (product, observed steps, step) rows.

It learns y / scale weighted by scale, where scale is the global curve at the step moved to the
observed level: minimising sum(scale * |y / scale - r|) is minimising sum|y - scale * r|, the
WAPE numerator, while the trees split on multiplicative effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np

from forecasting.artifact import ArtifactReader, ArtifactWriter
from forecasting.config import ForecasterConfig

if TYPE_CHECKING:
    from forecasting.trees import CompiledTrees

SCALE_FEATURE = "global_step_rescaled"
# Columns that differ between the rows of one product (its steps); all others are shared.
STEP_FEATURES = ("step", "global_step", "global_step_rescaled")
PROBE_ROWS = 2000  # rows on which the compiled trees must give LightGBM's numbers exactly


def row_scale(X: np.ndarray, feature_names: list[str], floor: float) -> np.ndarray:
    """The expected level of each row (see the module docstring), never below `floor`."""
    scale = X[:, feature_names.index(SCALE_FEATURE)]
    return np.maximum(np.where(np.isfinite(scale), scale, 0.0), floor)


# Below this many rows LightGBM trains on one thread: OpenMP's start-up and, on a busy host,
# its spinning threads cost more than they save (600 products: 1.1 s on one thread, 40 s on two
# while other jobs held the cores). A function of the data, so results stay deterministic.
MIN_ROWS_PER_THREAD = 50_000


def lgbm_parameters(
    config: ForecasterConfig, min_data_in_leaf: int, n_rows: int, rows_per_round: int | None = None
) -> dict[str, Any]:
    """Deterministic LightGBM parameters from the configuration (`rows_per_round`: the rows a
    boosting round samples at most, `gbm_max_rows_per_round` unless given)."""
    per_round = config.gbm_max_rows_per_round if rows_per_round is None else rows_per_round
    threads = max(1, min(config.num_threads, n_rows // MIN_ROWS_PER_THREAD))
    return {
        "objective": config.gbm_objective,
        "learning_rate": config.gbm_learning_rate,
        "num_leaves": config.gbm_num_leaves,
        "min_data_in_leaf": min_data_in_leaf,
        "max_bin": config.gbm_max_bin,
        "feature_fraction": 0.8,
        # LightGBM's own row sampling bounds the cost of a round on large catalogues: each
        # round sees at most gbm_max_rows_per_round rows (every row is used across rounds).
        "bagging_fraction": min(0.8, per_round / max(n_rows, 1)),
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_cat_to_onehot": 8,
        "cat_smooth": 20.0,
        "min_data_per_group": min(100, min_data_in_leaf),
        "verbosity": -1,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads,
        "seed": config.seed,
        "metric": "l1",
    }


def min_rows_in_leaf(config: ForecasterConfig, rows_per_product: int) -> int:
    """Rows a leaf needs. (Raising it to min_analogues products per leaf did not keep one
    product from pulling its own forecast, and cost 0.2-0.45 WAPE: the forecast role is
    answered from attribute curves instead, see LaunchForecaster._components.)"""
    return config.gbm_min_data_in_leaf


class LaunchGBM:
    """One LightGBM booster with its feature names and row scale.

    Fitted state: `booster_`, `feature_names_`, `categorical_`, `scale_floor_`, `rounds_`,
    `eval_curve_` (validation L1 per round when fitted with a validation set), `trees_` (the
    booster's trees compiled for prediction, derived from `booster_`, never saved; None when
    LightGBM predicts).
    """

    def __init__(self, config: ForecasterConfig) -> None:
        self.config = config

    def fit(
        self,
        train: lgb.Dataset,
        feature_names: list[str],
        n_categorical: int,
        scale_floor: float,
        rounds: int,
        min_data_in_leaf: int,
        valid: lgb.Dataset | None = None,
        dask_client: Any = None,
        compile_trees: bool = True,
        rows_per_round: int | None = None,
    ) -> LaunchGBM:
        """Train on a (label = y / scale, weight = scale) dataset.

        Args:
            train: The training rows (a Dataset or a subset of one: bins are shared).
            feature_names: Column names of the rows.
            n_categorical: The first columns that are categorical codes.
            scale_floor: Smallest row scale (see `row_scale`).
            rounds: Boosting rounds (at most, with a validation set: it early-stops).
            min_data_in_leaf: Rows per leaf at least (see `min_rows_in_leaf`).
            valid: Rows to early-stop on and record the L1 curve of.
            dask_client: Train with LightGBM's Dask estimator on this cluster.
            compile_trees: Compile the trees for prediction (see `compile`); a fold model
                predicts once, at rounds chosen later (LightGBM's path), so it skips this.
            rows_per_round: Rows each boosting round samples at most (see `lgbm_parameters`).
        """
        self.feature_names_ = list(feature_names)
        self.categorical_ = list(range(n_categorical))
        self.scale_floor_ = float(scale_floor)
        n_rows = train.construct().num_data()
        params = lgbm_parameters(self.config, min_data_in_leaf, n_rows, rows_per_round)
        if dask_client is not None:
            self.booster_ = _train_dask(train, params, rounds, self.categorical_, dask_client)
            self.eval_curve_: list[float] = []
        elif valid is None:
            self.booster_ = lgb.train(params, train, num_boost_round=rounds)
            self.eval_curve_ = []
        else:
            history: dict[str, Any] = {}
            self.booster_ = lgb.train(
                params,
                train,
                num_boost_round=rounds,
                valid_sets=[valid],
                valid_names=["valid"],
                callbacks=[lgb.early_stopping(50, verbose=False), lgb.record_evaluation(history)],
            )
            self.eval_curve_ = [float(v) for v in history["valid"]["l1"]]
        self.rounds_ = int(self.booster_.current_iteration())
        if compile_trees:
            return self.compile()
        self.trees_: CompiledTrees | None = None
        return self

    def compile(self) -> LaunchGBM:
        """Evaluate the trees with compiled code from now on (forecasting/trees.py), if it gives
        LightGBM's numbers bit for bit on probe rows; otherwise LightGBM keeps predicting."""
        from forecasting.trees import CompiledTrees, probe_rows

        try:
            trees = CompiledTrees.from_booster(self.booster_)
            exact = trees.check(self.booster_, probe_rows(trees, PROBE_ROWS))
        except (ValueError, KeyError):  # a model shape the compiled walk does not read
            exact = False
        self.trees_ = trees if exact else None
        return self

    def predict(self, X: np.ndarray, rounds: int | None = None, group: int = 1) -> np.ndarray:
        """Forecast per row (>= 0), with the first `rounds` trees (all by default).

        `group`: consecutive rows in groups of this size are one product's steps (they share
        every column but STEP_FEATURES; checked), which the compiled trees walk together.
        """
        if self.trees_ is not None and rounds is None:
            varying = np.isin(self.feature_names_, STEP_FEATURES)
            raw = self.trees_.predict(X, group, varying)
        else:
            # Small batches predict faster on one thread: OpenMP start-up costs more than it saves.
            threads = 1 if len(X) < 5000 else self.config.num_threads
            raw = np.asarray(self.booster_.predict(X, num_iteration=rounds, num_threads=threads))
        return np.maximum(raw, 0.0) * row_scale(X, self.feature_names_, self.scale_floor_)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(rows, features + 1) TreeSHAP contributions (LightGBM's `pred_contrib`) in units
        sold: each row's contributions plus its last column (the expected value) sum to its
        forecast before the floor at 0."""
        raw = self.booster_.predict(X, pred_contrib=True, num_threads=1)
        return np.asarray(raw) * row_scale(X, self.feature_names_, self.scale_floor_)[:, None]

    def save(self, writer: ArtifactWriter, name: str = "gbm") -> None:
        writer.text(name, self.booster_.model_to_string())
        writer.json(
            name,
            {
                "feature_names": self.feature_names_,
                "categorical": self.categorical_,
                "scale_floor": self.scale_floor_,
                "rounds": self.rounds_,
            },
        )

    @classmethod
    def load(cls, reader: ArtifactReader, config: ForecasterConfig, name: str = "gbm") -> LaunchGBM:
        self = cls(config)
        meta = reader.json(name)
        self.booster_ = lgb.Booster(model_str=reader.text(name))
        self.feature_names_ = list(meta["feature_names"])
        self.categorical_ = list(meta["categorical"])
        self.scale_floor_ = float(meta["scale_floor"])
        self.rounds_ = int(meta["rounds"])
        self.eval_curve_ = []
        return self.compile()


def _train_dask(
    train: lgb.Dataset, params: dict[str, Any], rounds: int, categorical: list[int], client: Any
) -> lgb.Booster:
    """Train with lightgbm.DaskLGBMRegressor on a few partitions of the rows."""
    import dask.array as da

    X = np.asarray(train.get_data())
    y = np.asarray(train.get_label())
    weight = np.asarray(train.get_weight())
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    chunk = max(1, -(-len(y) // (2 * n_workers)))
    kwargs = {
        k: v for k, v in params.items() if k not in {"num_threads", "seed", "verbosity", "metric"}
    }
    model = lgb.DaskLGBMRegressor(
        client=client,
        n_estimators=rounds,
        random_state=params.get("seed", 0),
        n_jobs=params.get("num_threads", 1),
        verbose=-1,
        **kwargs,
    )
    model.fit(
        da.from_array(X, chunks=(chunk, X.shape[1])),
        da.from_array(y, chunks=(chunk,)),
        sample_weight=da.from_array(weight, chunks=(chunk,)),
        categorical_feature=categorical,
    )
    return model.to_local().booster_
