"""Rolling-origin backtests, their plot, and the promotion gate built on them."""

from training.backtest.config import BacktestConfig, load_backtest_config
from training.backtest.report import BacktestReport
from training.backtest.runner import BacktestError, issue_times, run_backtest

__all__ = ["BacktestConfig", "BacktestError", "BacktestReport", "issue_times", "load_backtest_config", "run_backtest"]
