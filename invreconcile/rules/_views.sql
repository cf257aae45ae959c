-- Shared views the rules read. Created by invreconcile.audit.prepare before the rules run.
-- Same portability rules as the rule texts: no date functions, GROUP_CONCAT, windows.
-- Statements are separated by a line holding only ';'.

-- Stock movements per store and item, in minimum units, signed (+ in, - out).
-- 3502 types 108/109 (purchase in / return out) are left out: 3503/3504 carry purchases.
CREATE VIEW v_movements AS
SELECT store, item_id, epoch, day, month, 'purchases:' || id AS ref,
       CASE WHEN is_return = 1 THEN -qty ELSE qty END AS delta, NULL AS setl_id, NULL AS amount_fen, 'purchase' AS src
FROM purchases WHERE deleted = 0 AND qty IS NOT NULL AND epoch IS NOT NULL
UNION ALL
SELECT store, item_id, epoch, day, month, 'sales:' || id,
       CASE WHEN is_return = 1 THEN qty ELSE -qty END, setl_id, amount_fen, 'sale'
FROM sales WHERE deleted = 0 AND qty IS NOT NULL AND epoch IS NOT NULL
UNION ALL
SELECT store, item_id, epoch, day, month, 'stock_changes:' || id,
       CASE WHEN chg_type IN (101, 103, 106, 110) THEN qty ELSE -qty END, NULL, NULL, 'change'
FROM stock_changes WHERE deleted = 0 AND qty IS NOT NULL AND epoch IS NOT NULL AND chg_type NOT IN (108, 109)
;
-- Book stock at every stock count (3501): movements up to the count (a movement at the
-- very second of the count is after it), against the counted quantity. diff = counted -
-- book; new_diff = the part of diff that arose since the item's previous count (a gap
-- nobody corrected shows at every later count, but arose once).
CREATE VIEW v_count_book AS
WITH counts AS (
    SELECT store, item_id, epoch, MIN(day) AS day, MIN(month) AS month, SUM(qty) AS counted,
           GROUP_CONCAT('stock_counts:' || id) AS refs
    FROM stock_counts WHERE deleted = 0 AND qty IS NOT NULL AND epoch IS NOT NULL
    GROUP BY store, item_id, epoch
), stream AS (
    SELECT store, item_id, epoch, 0 AS is_count, delta, NULL AS counted, NULL AS refs, NULL AS day, NULL AS month
    FROM v_movements
    UNION ALL
    SELECT store, item_id, epoch, 1, 0, counted, refs, day, month FROM counts
), run AS (
    SELECT stream.*, SUM(delta) OVER (PARTITION BY store, item_id ORDER BY epoch, is_count DESC
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS book
    FROM stream
)
SELECT store, item_id, epoch, day, month, counted, book, counted - book AS diff,
       counted - book - COALESCE(LAG(counted - book) OVER (PARTITION BY store, item_id ORDER BY epoch), 0) AS new_diff,
       refs
FROM run WHERE is_count = 1
;
-- Item facts per store and item used anywhere: the store's own catalog row, else the
-- shared one (store ''); unit_fen = value of one minimum unit from the store's sales,
-- else the catalog's pack price / convrat.
CREATE VIEW v_item AS
WITH used AS (
    SELECT DISTINCT store, item_id FROM sales
    UNION SELECT DISTINCT store, item_id FROM purchases
    UNION SELECT DISTINCT store, item_id FROM stock_counts
    UNION SELECT DISTINCT store, item_id FROM settlement_lines
), sale_price AS (
    SELECT store, item_id, SUM(amount_fen) * 1.0 / SUM(qty) AS unit_fen
    FROM sales WHERE deleted = 0 AND is_return = 0 AND qty > 0 AND amount_fen IS NOT NULL
    GROUP BY store, item_id
)
SELECT u.store, u.item_id, COALESCE(o.item_name, g.item_name) AS item_name,
       COALESCE(o.convrat, g.convrat) AS convrat, COALESCE(o.covered, g.covered) AS covered,
       COALESCE(o.category, g.category) AS category, COALESCE(o.med_list_codg, g.med_list_codg) AS med_list_codg,
       COALESCE(sp.unit_fen, COALESCE(o.price_fen, g.price_fen) * 1.0 / COALESCE(o.convrat, g.convrat)) AS unit_fen,
       CASE WHEN o.id IS NULL AND g.id IS NULL THEN 0 ELSE 1 END AS in_catalog
FROM used u
LEFT JOIN items o ON o.store = u.store AND o.item_id = u.item_id
LEFT JOIN items g ON g.store = '' AND g.item_id = u.item_id
LEFT JOIN sale_price sp ON sp.store = u.store AND sp.item_id = u.item_id
;
-- Settlements that stand: originals (not reversals), not withdrawn, with a time, and
-- not reversed by a 2103. The card-swipe rules start from here.
CREATE VIEW v_settlement AS
SELECT s.* FROM settlements s
WHERE s.is_reversal = 0 AND s.deleted = 0 AND s.epoch IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0
                  AND r.orig_setl_id = s.setl_id AND r.store = s.store)
;
-- Insurance money of each settlement line per box: the line's share of its settlement's
-- insurance payment (fund + personal account), split over the line's codes.
CREATE VIEW v_line_money AS
WITH tot AS (
    SELECT setl_id, store, SUM(amount_fen) AS lines_fen FROM settlement_lines WHERE deleted = 0 GROUP BY setl_id, store
)
SELECT l.id, l.store, l.setl_id, l.item_id, l.item_name, l.qty, l.amount_fen, l.code_count,
       CASE WHEN t.lines_fen > 0 AND s.insurance_fen IS NOT NULL
            THEN s.insurance_fen * 1.0 * l.amount_fen / t.lines_fen ELSE l.amount_fen * 1.0 END AS insured_fen,
       s.psn_no, s.epoch, s.day, s.month, s.id AS settlement_row
FROM settlement_lines l
JOIN tot t ON t.setl_id = l.setl_id AND t.store = l.store
LEFT JOIN settlements s ON s.setl_id = l.setl_id AND s.store = l.store AND s.is_reversal = 0 AND s.deleted = 0
WHERE l.deleted = 0
;
-- Dispensing transactions per trace code: a sale and the settlement that billed it are
-- one transaction (same setl_id); a re-uploaded record with the same retail document
-- too. reversed = 1 when a 2103 reversal names the settlement; returned = 1 when a
-- sale return (3506) carries the code or names the settlement. The rules look up the
-- insurance money of a box (v_line_money) and the events of a transaction (their evidence)
-- for their findings only: joining the money here for every transaction took a fifth of
-- the view's time, listing the events a third of the rest. day and month are ts's first
-- characters (the ledger derives them from ts): two aggregates fewer.
-- Grouped by code || '' rather than code: grouping by the bare column makes SQLite read
-- the events through the code index, a random read of the table per event (2x slower).
-- All setl_ids of a group equal its tx, so reversed is looked up once per group.
CREATE VIEW v_code_tx AS
WITH ev AS (
    SELECT e.code, e.store, e.setl_id, e.epoch, e.ts, e.trdn_flag, e.item_id, e.psn_no, e.product_key, e.code_kind,
           e.event, e.qty, e.expy_end, COALESCE(e.setl_id, e.doc_no, e.src_table || ':' || e.src_id) AS tx
    FROM code_events e
    WHERE e.event IN ('sold', 'settled') AND e.code_kind IN ('cn20', 'gs1', 'ma')
), grouped AS (
    SELECT ev.code || '' AS code, ev.store, ev.tx, MAX(ev.setl_id) AS setl_id, MIN(ev.epoch) AS epoch, MIN(ev.ts) AS ts,
       COALESCE(MAX(ev.trdn_flag), 0) AS trdn, MAX(ev.item_id) AS item_id,
       MAX(ev.psn_no) AS psn_no, MAX(ev.product_key) AS product_key, MAX(ev.code_kind) AS code_kind,
       MAX(CASE WHEN ev.event = 'sold' THEN ev.qty END) AS sold_qty,
       MAX(ev.expy_end) AS expy_end
FROM ev
GROUP BY ev.code || '', ev.store, ev.tx
), rev AS (
    SELECT DISTINCT orig_setl_id AS setl_id, store FROM settlements
    WHERE is_reversal = 1 AND deleted = 0 AND orig_setl_id IS NOT NULL
)
SELECT g.code, g.store, g.tx, g.setl_id, g.epoch, g.ts, SUBSTR(g.ts, 1, 10) AS day, SUBSTR(g.ts, 1, 7) AS month,
       g.trdn, g.item_id, g.psn_no, g.product_key, g.code_kind, g.sold_qty, g.expy_end, CASE WHEN r.setl_id IS NULL THEN 0 ELSE 1 END AS reversed
FROM grouped g
LEFT JOIN rev r ON r.setl_id = g.setl_id AND r.store = g.store
;
