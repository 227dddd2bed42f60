"""The demo's connector: the web shop's orders, kept in a local SQLite database the way a shop system keeps them,
pulled by a ``sql`` connector every 15 minutes (the worker runs it; the demo runs it once). The same orders were
imported from shop_orders.csv, so this first pull stores nothing twice: it shows the two paths meet."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from touchflow.demo.sample_data import SHOP_ORDER_HEADERS
from touchflow.domain.connectors import ConnectorRun
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import RunOptions, run_connector
from touchflow.services.connectors import add_connector, get_connector
from touchflow.services.context import ServiceContext

__all__ = ["CONNECTOR", "SCHEDULE", "add_shop_connector", "write_shop_database"]

CONNECTOR = "shop-orders"
SCHEDULE = "*/15 * * * *"


def write_shop_database(orders_csv: Path, database: Path) -> int:
    """The orders of ``orders_csv`` as the shop's own table ``orders`` (replaced); returns the row count."""
    columns = ", ".join(f'"{h}" TEXT' for h in SHOP_ORDER_HEADERS)
    with orders_csv.open(encoding="utf-8", newline="") as fh, sqlite3.connect(database) as db:
        rows = list(csv.reader(fh))[1:]
        db.execute("DROP TABLE IF EXISTS orders")
        db.execute(f"CREATE TABLE orders ({columns}, PRIMARY KEY (id))")
        db.executemany(f"INSERT INTO orders VALUES ({', '.join('?' for _ in SHOP_ORDER_HEADERS)})", rows)
    return len(rows)


def add_shop_connector(ctx: ServiceContext, orders_csv: Path, batch_size: int = 2000) -> ConnectorRun:
    """Write the shop database beside the CSV, add the connector (once) and run it once."""
    database = orders_csv.with_name("shop.db")
    write_shop_database(orders_csv, database)
    try:
        get_connector(ctx, CONNECTOR)
    except LookupError:
        add_connector(ctx, CONNECTOR, "sql", {"url": f"sqlite:///{database.as_posix()}", "table": "orders",
                                              "source": "ecommerce"},
                      record_kind="events", event_type="order_paid", cursor="id", schedule=SCHEDULE,
                      kinds=kind_requirements(), actor="demo")
    return run_connector(ctx, CONNECTOR, actor="demo", options=RunOptions(batch_size=batch_size, retries=0))
