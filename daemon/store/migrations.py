"""Numbered schema migrations as explicit SQL that runs on SQLite and PostgreSQL alike."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import peewee

from ..errors import SchemaTooNew, StoreError

log = logging.getLogger("hotline.store")


@dataclass(frozen=True)
class Migration:
    """One numbered step; its statements run in one transaction."""

    number: int
    title: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, tokens, settings, event journal, CDRs, recordings", (
        """CREATE TABLE users (
            id {pk}, name VARCHAR(64) NOT NULL UNIQUE, role VARCHAR(16) NOT NULL,
            password_hash VARCHAR(255), language VARCHAR(8) NOT NULL DEFAULT 'zh_CN',
            disabled BOOLEAN NOT NULL DEFAULT FALSE, created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE api_tokens (
            id {pk}, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash VARCHAR(128) NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL,
            last_used DOUBLE PRECISION)""",
        """CREATE TABLE settings (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE events (
            id {pk}, ts DOUBLE PRECISION NOT NULL, kind VARCHAR(48) NOT NULL,
            call_uuid VARCHAR(36), line VARCHAR(64), data TEXT NOT NULL DEFAULT '{{}}')""",
        "CREATE INDEX events_call ON events (call_uuid)",
        "CREATE INDEX events_kind_ts ON events (kind, ts)",
        """CREATE TABLE cdrs (
            call_uuid VARCHAR(36) PRIMARY KEY, parent_uuid VARCHAR(36), direction VARCHAR(16) NOT NULL,
            line VARCHAR(64), caller_id VARCHAR(64), caller_name VARCHAR(128), dialed VARCHAR(64),
            offered_at DOUBLE PRECISION NOT NULL, answered_at DOUBLE PRECISION,
            bridged_at DOUBLE PRECISION, ended_at DOUBLE PRECISION NOT NULL,
            duration DOUBLE PRECISION NOT NULL, talk_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
            disposition VARCHAR(16) NOT NULL, cause VARCHAR(32) NOT NULL, peer VARCHAR(64),
            recording VARCHAR(512))""",
        "CREATE INDEX cdrs_offered ON cdrs (offered_at)",
        """CREATE TABLE recordings (
            id {pk}, call_uuid VARCHAR(36) NOT NULL, path VARCHAR(512) NOT NULL UNIQUE,
            started_at DOUBLE PRECISION NOT NULL, ended_at DOUBLE PRECISION,
            duration DOUBLE PRECISION, bytes BIGINT, channels INTEGER NOT NULL DEFAULT 1,
            state VARCHAR(16) NOT NULL)""",
        "CREATE INDEX recordings_call ON recordings (call_uuid)",
    )),
    Migration(2, "service data: customers, products, dealers, repair centers, FAQ, warranties, orders, "
                 "water accounts, tickets, callbacks, voicemail, fax jobs", (
        """CREATE TABLE customers (
            id {pk}, name VARCHAR(128) NOT NULL, member_no VARCHAR(32) UNIQUE, pin_hash VARCHAR(255),
            vip BOOLEAN NOT NULL DEFAULT FALSE, district VARCHAR(64), region VARCHAR(32),
            province VARCHAR(32), area_code VARCHAR(8), address VARCHAR(255), email VARCHAR(255),
            language VARCHAR(8) NOT NULL DEFAULT 'zh_CN', created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL, notes TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX customers_name ON customers (name)",
        "CREATE INDEX customers_area_code ON customers (area_code)",
        "CREATE INDEX customers_province ON customers (province)",
        "CREATE INDEX customers_district ON customers (district)",
        """CREATE TABLE customer_phones (
            id {pk}, customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
            number VARCHAR(32) NOT NULL, kind VARCHAR(16) NOT NULL DEFAULT 'mobile',
            UNIQUE (customer_id, number))""",
        "CREATE INDEX customer_phones_number ON customer_phones (number)",
        """CREATE TABLE products (
            id {pk}, model VARCHAR(32) NOT NULL UNIQUE, category VARCHAR(16) NOT NULL,
            name_zh VARCHAR(128) NOT NULL, name_en VARCHAR(128) NOT NULL,
            specs_zh TEXT NOT NULL DEFAULT '', specs_en TEXT NOT NULL DEFAULT '',
            price_cents BIGINT NOT NULL CHECK (price_cents >= 0), stock INTEGER NOT NULL DEFAULT 0,
            active BOOLEAN NOT NULL DEFAULT TRUE)""",
        "CREATE INDEX products_category ON products (category, model)",
        """CREATE TABLE dealers (
            id {pk}, name VARCHAR(128) NOT NULL, province VARCHAR(32) NOT NULL, area_code VARCHAR(8),
            city VARCHAR(64), address VARCHAR(255), phone VARCHAR(32))""",
        "CREATE INDEX dealers_area_code ON dealers (area_code)",
        "CREATE INDEX dealers_province ON dealers (province)",
        """CREATE TABLE repair_centers (
            id {pk}, name VARCHAR(128) NOT NULL, region VARCHAR(32), district VARCHAR(64),
            area_code VARCHAR(8), address VARCHAR(255), phone VARCHAR(32),
            authorized BOOLEAN NOT NULL DEFAULT TRUE)""",
        "CREATE INDEX repair_centers_area_code ON repair_centers (area_code)",
        "CREATE INDEX repair_centers_region ON repair_centers (region)",
        "CREATE INDEX repair_centers_district ON repair_centers (district)",
        """CREATE TABLE faq (
            id {pk}, code VARCHAR(16) NOT NULL UNIQUE, question_zh TEXT NOT NULL DEFAULT '',
            question_en TEXT NOT NULL DEFAULT '', answer_zh TEXT NOT NULL DEFAULT '',
            answer_en TEXT NOT NULL DEFAULT '', product_model VARCHAR(32))""",
        "CREATE INDEX faq_product_model ON faq (product_model)",
        """CREATE TABLE warranties (
            id {pk}, serial_no VARCHAR(32) NOT NULL UNIQUE, product_model VARCHAR(32) NOT NULL,
            customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
            purchased_on VARCHAR(10) NOT NULL, warranty_until VARCHAR(10) NOT NULL,
            card_no VARCHAR(32) UNIQUE)""",
        "CREATE INDEX warranties_customer ON warranties (customer_id)",
        """CREATE TABLE orders (
            id {pk}, order_no VARCHAR(32) NOT NULL UNIQUE,
            customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
            status VARCHAR(16) NOT NULL, amount_cents BIGINT NOT NULL,
            description VARCHAR(255) NOT NULL DEFAULT '', created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX orders_customer ON orders (customer_id)",
        "CREATE INDEX orders_status_created ON orders (status, created_at)",
        """CREATE TABLE water_accounts (
            id {pk}, account_no VARCHAR(32) NOT NULL UNIQUE,
            customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
            district VARCHAR(64), address VARCHAR(255), meter_no VARCHAR(32),
            balance_cents BIGINT NOT NULL DEFAULT 0, last_bill_cents BIGINT, last_bill_month VARCHAR(7))""",
        "CREATE INDEX water_accounts_customer ON water_accounts (customer_id)",
        "CREATE INDEX water_accounts_district ON water_accounts (district)",
        "CREATE INDEX water_accounts_meter ON water_accounts (meter_no)",
        """CREATE TABLE tickets (
            id {pk}, ticket_no VARCHAR(32) NOT NULL UNIQUE, type VARCHAR(32) NOT NULL,
            status VARCHAR(16) NOT NULL, priority VARCHAR(16) NOT NULL,
            customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL, caller_number VARCHAR(32),
            district VARCHAR(64), repair_center_id BIGINT REFERENCES repair_centers(id) ON DELETE SET NULL,
            owner VARCHAR(64), call_uuid VARCHAR(36), summary TEXT NOT NULL DEFAULT '',
            result TEXT NOT NULL DEFAULT '', created_at DOUBLE PRECISION NOT NULL,
            due_at DOUBLE PRECISION, updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX tickets_status_created ON tickets (status, created_at)",
        "CREATE INDEX tickets_customer ON tickets (customer_id)",
        "CREATE INDEX tickets_caller ON tickets (caller_number, created_at)",
        "CREATE INDEX tickets_district ON tickets (district)",
        "CREATE INDEX tickets_repair_center ON tickets (repair_center_id)",
        "CREATE INDEX tickets_call ON tickets (call_uuid)",
        """CREATE TABLE ticket_history (
            id {pk}, ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
            ts DOUBLE PRECISION NOT NULL, actor VARCHAR(64) NOT NULL, action VARCHAR(32) NOT NULL,
            note TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, ts)",
        """CREATE TABLE callbacks (
            id {pk}, number VARCHAR(32) NOT NULL, call_uuid VARCHAR(36), queue VARCHAR(64) NOT NULL,
            status VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, language VARCHAR(8),
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            next_attempt_at DOUBLE PRECISION, joined_at DOUBLE PRECISION, note TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX callbacks_status_next ON callbacks (status, next_attempt_at)",
        "CREATE INDEX callbacks_queue_status ON callbacks (queue, status, joined_at)",
        "CREATE INDEX callbacks_number ON callbacks (number)",
        """CREATE TABLE voicemails (
            id {pk}, mailbox VARCHAR(64) NOT NULL, call_uuid VARCHAR(36), caller_number VARCHAR(32),
            path VARCHAR(512) NOT NULL UNIQUE, seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL, unread BOOLEAN NOT NULL DEFAULT TRUE)""",
        "CREATE INDEX voicemails_mailbox ON voicemails (mailbox, unread, created_at)",
        "CREATE INDEX voicemails_call ON voicemails (call_uuid)",
        """CREATE TABLE fax_jobs (
            id {pk}, call_uuid VARCHAR(36), document VARCHAR(64) NOT NULL, number VARCHAR(32),
            status VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, pages INTEGER,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            detail TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX fax_jobs_status_created ON fax_jobs (status, created_at)",
        "CREATE INDEX fax_jobs_call ON fax_jobs (call_uuid)",
    )),
    Migration(3, "flow versions, business hours, holidays, block list", (
        """CREATE TABLE flow_versions (
            id {pk}, name VARCHAR(48) NOT NULL, version INTEGER NOT NULL, source TEXT NOT NULL,
            digest VARCHAR(32) NOT NULL, author VARCHAR(64) NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            active BOOLEAN NOT NULL DEFAULT FALSE, UNIQUE (name, version))""",
        """CREATE TABLE schedule_hours (
            id {pk}, name VARCHAR(48) NOT NULL, weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
            opens VARCHAR(5) NOT NULL, closes VARCHAR(5) NOT NULL)""",
        "CREATE INDEX schedule_hours_name ON schedule_hours (name)",
        """CREATE TABLE holidays (
            id {pk}, day VARCHAR(10) NOT NULL UNIQUE, name VARCHAR(64) NOT NULL,
            is_workday BOOLEAN NOT NULL DEFAULT FALSE)""",
        """CREATE TABLE blacklist (
            id {pk}, number VARCHAR(32) NOT NULL UNIQUE, reason VARCHAR(255) NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL, created_by VARCHAR(64) NOT NULL DEFAULT '')""",
    )),
    Migration(4, "ACD: queues, agents, queue members", (
        """CREATE TABLE agents (
            id {pk}, name VARCHAR(64) NOT NULL UNIQUE, display_name VARCHAR(128) NOT NULL DEFAULT '',
            user_name VARCHAR(64), extension VARCHAR(16), skills TEXT NOT NULL DEFAULT '{{}}',
            follow_me VARCHAR(32), follow_me_after DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE queues (
            id {pk}, name VARCHAR(48) NOT NULL UNIQUE, settings TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE queue_members (
            id {pk}, queue_id INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
            agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
            penalty INTEGER NOT NULL DEFAULT 0, position INTEGER NOT NULL DEFAULT 0,
            UNIQUE (queue_id, agent_id))""",
    )),
    Migration(5, "panel: login sessions, audit log", (
        """CREATE TABLE web_sessions (
            id {pk}, token_hash VARCHAR(64) NOT NULL UNIQUE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL, address VARCHAR(64) NOT NULL DEFAULT '')""",
        "CREATE INDEX web_sessions_user ON web_sessions (user_id)",
        """CREATE TABLE audit_log (
            id {pk}, ts DOUBLE PRECISION NOT NULL, user_name VARCHAR(64) NOT NULL,
            address VARCHAR(64) NOT NULL DEFAULT '', action VARCHAR(64) NOT NULL,
            target VARCHAR(255) NOT NULL DEFAULT '', before TEXT, after TEXT)""",
        "CREATE INDEX audit_log_ts ON audit_log (ts)",
        "CREATE INDEX audit_log_user_ts ON audit_log (user_name, ts)",
        "CREATE INDEX audit_log_action_ts ON audit_log (action, ts)",
    )),
    Migration(6, "service CRM: spare parts with the models they fit, employee directory", (
        """CREATE TABLE spare_parts (
            id {pk}, part_no VARCHAR(32) NOT NULL UNIQUE, name_zh VARCHAR(128) NOT NULL,
            name_en VARCHAR(128) NOT NULL DEFAULT '', specs_zh TEXT NOT NULL DEFAULT '',
            specs_en TEXT NOT NULL DEFAULT '', price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
            stock INTEGER NOT NULL DEFAULT 0, active BOOLEAN NOT NULL DEFAULT TRUE,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE spare_part_fits (
            id {pk}, part_id BIGINT NOT NULL REFERENCES spare_parts(id) ON DELETE CASCADE,
            product_model VARCHAR(32) NOT NULL, UNIQUE (part_id, product_model))""",
        "CREATE INDEX spare_part_fits_model ON spare_part_fits (product_model)",
        """CREATE TABLE employees (
            id {pk}, name VARCHAR(128) NOT NULL, department VARCHAR(64) NOT NULL DEFAULT '',
            title VARCHAR(64) NOT NULL DEFAULT '', extension VARCHAR(16), mobile VARCHAR(32),
            email VARCHAR(255), notes TEXT NOT NULL DEFAULT '', created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX employees_name ON employees (name)",
        "CREATE INDEX employees_department ON employees (department, name)",
        "CREATE INDEX employees_extension ON employees (extension)",
        "CREATE INDEX employees_mobile ON employees (mobile)",
    )),
    Migration(7, "panel: messages between agents and supervisors, ticket escalation memos", (
        """CREATE TABLE agent_messages (
            id {pk}, ts DOUBLE PRECISION NOT NULL, sender VARCHAR(64) NOT NULL,
            recipient VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL DEFAULT 'message',
            text TEXT NOT NULL, ticket_id BIGINT REFERENCES tickets(id) ON DELETE CASCADE,
            acked_at DOUBLE PRECISION, acked_by VARCHAR(64))""",
        "CREATE INDEX agent_messages_recipient ON agent_messages (recipient, acked_at, ts)",
        "CREATE INDEX agent_messages_sender ON agent_messages (sender, ts)",
        "CREATE INDEX agent_messages_ticket ON agent_messages (ticket_id)",
    )),
    Migration(8, "knowledge base (categories, articles, bigram search terms), work orders and their history", (
        """CREATE TABLE kb_categories (
            id {pk}, name VARCHAR(64) NOT NULL UNIQUE, created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE kb_articles (
            id {pk}, category_id BIGINT REFERENCES kb_categories(id) ON DELETE SET NULL,
            title VARCHAR(200) NOT NULL, body TEXT NOT NULL DEFAULT '', tags VARCHAR(400) NOT NULL DEFAULT '',
            created_by VARCHAR(64) NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            updated_by VARCHAR(64) NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX kb_articles_category ON kb_articles (category_id, title)",
        """CREATE TABLE kb_terms (
            article_id BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
            term VARCHAR(32) NOT NULL, weight INTEGER NOT NULL, PRIMARY KEY (article_id, term))""",
        "CREATE INDEX kb_terms_term ON kb_terms (term)",
        """CREATE TABLE work_orders (
            id {pk}, order_no VARCHAR(32) NOT NULL UNIQUE, status VARCHAR(16) NOT NULL,
            ticket_id BIGINT REFERENCES tickets(id) ON DELETE SET NULL,
            customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
            customer_name VARCHAR(128) NOT NULL DEFAULT '', phone VARCHAR(32), address VARCHAR(255),
            district VARCHAR(64), area_code VARCHAR(8), region VARCHAR(32), product_model VARCHAR(32),
            serial_no VARCHAR(32), fault TEXT NOT NULL,
            repair_center_id BIGINT REFERENCES repair_centers(id) ON DELETE SET NULL,
            dispatch_match VARCHAR(16), technician VARCHAR(64), visit_date VARCHAR(10),
            result TEXT NOT NULL DEFAULT '', parts_used TEXT NOT NULL DEFAULT '',
            created_by VARCHAR(64) NOT NULL, created_at DOUBLE PRECISION NOT NULL,
            dispatched_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX work_orders_status_created ON work_orders (status, created_at)",
        "CREATE INDEX work_orders_center ON work_orders (repair_center_id, status)",
        "CREATE INDEX work_orders_district ON work_orders (district)",
        "CREATE INDEX work_orders_ticket ON work_orders (ticket_id)",
        "CREATE INDEX work_orders_customer ON work_orders (customer_id)",
        """CREATE TABLE work_order_history (
            id {pk}, work_order_id BIGINT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
            ts DOUBLE PRECISION NOT NULL, actor VARCHAR(64) NOT NULL, action VARCHAR(32) NOT NULL,
            note TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX work_order_history_order ON work_order_history (work_order_id, ts)",
    )),
    Migration(9, "report summaries: hourly rows per queue, agent, reason, direction, IVR node and choice, trunks", (
        """CREATE TABLE stat_queue (
            hour INTEGER NOT NULL, queue VARCHAR(64) NOT NULL, offered {num}, answered {num}, answered_in_sl
            {num}, abandoned {num}, short_abandoned {num}, callbacks {num}, timeouts {num}, left_queue {num},
            wait_answered_ms {num}, wait_abandoned_ms {num}, survey_count {num}, survey_sum {num}, wait_bucket_0
            {num}, wait_bucket_1 {num}, wait_bucket_2 {num}, wait_bucket_3 {num}, wait_bucket_4 {num},
            wait_bucket_5 {num}, wait_bucket_6 {num}, wait_answered_max_ms {num}, PRIMARY KEY (hour, queue))""",
        """CREATE TABLE stat_agent (
            hour INTEGER NOT NULL, agent INTEGER NOT NULL, calls {num}, talk_ms {num}, hold_ms {num}, missed
            {num}, logged_in_ms {num}, ready_ms {num}, reserved_ms {num}, on_call_ms {num}, wrap_up_ms {num},
            not_ready_ms {num}, outbound_ms {num}, survey_count {num}, survey_sum {num}, talk_max_ms {num},
            PRIMARY KEY (hour, agent))""",
        """CREATE TABLE stat_agent_reason (
            hour INTEGER NOT NULL, agent INTEGER NOT NULL, reason VARCHAR(64) NOT NULL, ms {num}, PRIMARY KEY
            (hour, agent, reason))""",
        """CREATE TABLE stat_calls (
            hour INTEGER NOT NULL, direction VARCHAR(64) NOT NULL, calls {num}, answered {num}, refused {num},
            queued {num}, contained {num}, duration_ms {num}, voicemails {num}, faxes {num}, PRIMARY KEY (hour,
            direction))""",
        """CREATE TABLE stat_ivr_node (
            hour INTEGER NOT NULL, flow VARCHAR(64) NOT NULL, node VARCHAR(64) NOT NULL, reached {num},
            left_here {num}, PRIMARY KEY (hour, flow, node))""",
        """CREATE TABLE stat_ivr_choice (
            hour INTEGER NOT NULL, flow VARCHAR(64) NOT NULL, menu VARCHAR(128) NOT NULL, choice VARCHAR(16) NOT
            NULL, count {num}, PRIMARY KEY (hour, flow, menu, choice))""",
        """CREATE TABLE stat_lines (
            hour INTEGER NOT NULL, busy_ms {num}, all_busy_ms {num}, peak {num}, PRIMARY KEY (hour))""",
        """CREATE TABLE stat_abandoned (
            call_uuid VARCHAR(36) NOT NULL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, hour INTEGER NOT NULL,
            queue VARCHAR(64) NOT NULL, caller VARCHAR(32) NOT NULL, waited_ms BIGINT NOT NULL,
            short INTEGER NOT NULL)""",
        "CREATE INDEX stat_abandoned_ts ON stat_abandoned (ts)",
        "CREATE INDEX stat_abandoned_queue_ts ON stat_abandoned (queue, ts)",
        """CREATE TABLE stat_cursor (
            name VARCHAR(32) NOT NULL PRIMARY KEY, last_event_id BIGINT NOT NULL, state TEXT NOT NULL,
            trunks INTEGER NOT NULL DEFAULT 0, updated_at DOUBLE PRECISION NOT NULL)""",
    )),
    Migration(10, "agent grades", (
        "ALTER TABLE agents ADD COLUMN grade INTEGER NOT NULL DEFAULT 1",
    )),
    Migration(11, "failed log-in counters (per account, per address, per account and address)", (
        """CREATE TABLE login_failures (
            subject VARCHAR(200) NOT NULL PRIMARY KEY, failures INTEGER NOT NULL, last_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX login_failures_last ON login_failures (last_at)",
    )),
    Migration(12, "report summaries per local day for agents and the IVR; the trunk legs of outbound calls marked "
                  "in CDRs", (
        """CREATE TABLE stat_agent_day (
            day INTEGER NOT NULL, agent INTEGER NOT NULL, calls {num}, talk_ms {num}, hold_ms {num}, missed
            {num}, logged_in_ms {num}, ready_ms {num}, reserved_ms {num}, on_call_ms {num}, wrap_up_ms {num},
            not_ready_ms {num}, outbound_ms {num}, survey_count {num}, survey_sum {num}, talk_max_ms {num},
            PRIMARY KEY (day, agent))""",
        """CREATE TABLE stat_agent_reason_day (
            day INTEGER NOT NULL, agent INTEGER NOT NULL, reason VARCHAR(64) NOT NULL, ms {num}, PRIMARY KEY
            (day, agent, reason))""",
        """CREATE TABLE stat_ivr_node_day (
            day INTEGER NOT NULL, flow VARCHAR(64) NOT NULL, node VARCHAR(64) NOT NULL, reached {num},
            left_here {num}, PRIMARY KEY (day, flow, node))""",
        """CREATE TABLE stat_ivr_choice_day (
            day INTEGER NOT NULL, flow VARCHAR(64) NOT NULL, menu VARCHAR(128) NOT NULL, choice VARCHAR(16) NOT
            NULL, count {num}, PRIMARY KEY (day, flow, menu, choice))""",
        "UPDATE cdrs SET direction = 'outbound_leg' WHERE direction = 'outbound' AND parent_uuid IS NOT NULL",
    )),
    Migration(13, "faxes both directions: direction, reason, caller id, pages total, who asked, times; the fax-back "
                  "rows no earlier version could send become failed (never sent)", (
        "ALTER TABLE fax_jobs ADD COLUMN direction VARCHAR(8) NOT NULL DEFAULT 'out'",
        "ALTER TABLE fax_jobs ADD COLUMN caller_id VARCHAR(64)",
        "ALTER TABLE fax_jobs ADD COLUMN reason VARCHAR(32)",
        "ALTER TABLE fax_jobs ADD COLUMN pages_total INTEGER",
        "ALTER TABLE fax_jobs ADD COLUMN requested_by VARCHAR(64)",
        "ALTER TABLE fax_jobs ADD COLUMN started_at DOUBLE PRECISION",
        "ALTER TABLE fax_jobs ADD COLUMN finished_at DOUBLE PRECISION",
        "ALTER TABLE fax_jobs ADD COLUMN next_attempt_at DOUBLE PRECISION",
        # Nothing before this version sent a fax: a row that says queued/sending/sent was never sent, and a
        # sender arriving now must not surprise a caller with a document asked for days ago.
        "UPDATE fax_jobs SET status = 'failed', reason = 'never_sent', finished_at = updated_at, "
        "detail = 'never sent: no fax sender in this version' WHERE status IN ('queued', 'sending', 'sent')",
        "UPDATE fax_jobs SET status = 'failed', reason = 'cancelled', finished_at = updated_at "
        "WHERE status = 'cancelled'",
        "CREATE INDEX fax_jobs_direction ON fax_jobs (direction, created_at)",
        "CREATE INDEX fax_jobs_due ON fax_jobs (status, next_attempt_at)",
    )),
    Migration(14, "received faxes filed with a customer and ticket; the mail outbox (fax and voicemail mail, "
                  "retried); fax report summaries per hour", (
        "ALTER TABLE fax_jobs ADD COLUMN customer_id INTEGER",
        "ALTER TABLE fax_jobs ADD COLUMN ticket_id INTEGER",
        "ALTER TABLE fax_jobs ADD COLUMN filed_at DOUBLE PRECISION",
        # faxes received before this version are not filed or mailed after the upgrade (days late, a surprise)
        "UPDATE fax_jobs SET filed_at = updated_at WHERE direction = 'in' AND status = 'received'",
        """CREATE TABLE mail_outbox (
            id {pk}, kind VARCHAR(16) NOT NULL, ref INTEGER NOT NULL, recipients TEXT NOT NULL,
            status VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            next_attempt_at DOUBLE PRECISION, sent_at DOUBLE PRECISION)""",
        "CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at)",
        "CREATE INDEX mail_outbox_ref ON mail_outbox (kind, ref)",
        """CREATE TABLE stat_fax (
            hour INTEGER NOT NULL, direction VARCHAR(8) NOT NULL, sent {num}, failed {num}, received {num},
            pages {num}, PRIMARY KEY (hour, direction))""",
    )),
)

LATEST = MIGRATIONS[-1].number


def _dialect(db: peewee.Database, sql: str) -> str:
    pk = "BIGSERIAL PRIMARY KEY" if isinstance(db, peewee.PostgresqlDatabase) else \
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    return sql.format(pk=pk, num="BIGINT NOT NULL DEFAULT 0")


def current_version(db: peewee.Database) -> int:
    """The schema version stored in the database (0 for an empty database)."""
    if "hotline_schema" not in db.get_tables():
        return 0
    row = db.execute_sql("SELECT MAX(version) FROM hotline_schema").fetchone()
    return int(row[0] or 0)


def upgrade(db: peewee.Database, target: int | None = None) -> list[int]:
    """Apply every migration above the stored version up to ``target`` (default: the latest)."""
    target = MIGRATIONS[-1].number if target is None else target
    version = current_version(db)
    latest = MIGRATIONS[-1].number
    if version > latest:
        raise SchemaTooNew(f"database schema version {version} is newer than this Hotline "
                           f"(knows up to {latest}): install a newer Hotline or restore a backup")
    applied = []
    if version == 0:
        with db.atomic():
            db.execute_sql("CREATE TABLE IF NOT EXISTS hotline_schema "
                           "(version INTEGER NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
    for mig in MIGRATIONS:
        if version < mig.number <= target:
            with db.atomic():
                for sql in mig.statements:
                    db.execute_sql(_dialect(db, sql))
                db.execute_sql("INSERT INTO hotline_schema (version, applied_at) VALUES (%s, %s)"
                               .replace("%s", db.param), (mig.number, time.time()))
            log.info("event=migrated version=%d title=%r", mig.number, mig.title)
            applied.append(mig.number)
    return applied


def check(db: peewee.Database, auto_upgrade: bool) -> list[int]:
    """Refuse a newer schema; upgrade an older one only when allowed or at first run."""
    version = current_version(db)
    if version > LATEST:
        raise SchemaTooNew(f"database schema version {version} is newer than this Hotline "
                           f"(knows up to {LATEST}): install a newer Hotline or restore a backup")
    if version == LATEST:
        return []
    if version == 0 or auto_upgrade:
        return upgrade(db)
    raise StoreError(f"database schema version {version} is older than {LATEST}: "
                     "run 'hotline db upgrade' (back up first) or set database.auto_upgrade: true")
