-- id: excess_supply
-- category: abnormal_swipe
-- severity: medium
-- scope: all_stores
-- title_zh: 同一药品累计购药量远超合理用药天数
-- title_en: Cumulative quantity of one drug far beyond a reasonable supply
-- why_zh: 一个人在30天内买同一种药的数量，远超本人能吃完的量（超量开药、囤药），常见于冒名购药后倒卖（回流药）或代刷。慢病长期处方最长可开12周；按一盒至少吃一周估算，30天内超过12盒即超过12周的用量。
-- why_zh: 跨门店累计（参与的门店都会收到本发现）；每月按时复购一两盒的慢病患者远低于阈值，不报。已冲销的结算不计。数据中没有每日用量，因此按盒数而不是按天数估算。
-- why_en: One person buying far more of one drug within 30 days than one person can take (over-prescribing, stockpiling) is typical of purchases in someone's name for resale (returned drugs) or of cards swiped by staff. A chronic long prescription covers at most 12 weeks; assuming one box lasts at least a week, more than 12 boxes in 30 days is more than 12 weeks' supply.
-- why_en: Summed over all stores (every store involved gets the finding); chronic patients refilling one or two boxes a month stay far below and are not reported. Reversed settlements do not count. The ledger has no daily dose, so the supply is estimated in boxes, not days.
-- message_zh: 参保人 {psn_no} 在 {window_days} 天内最多购买 {item_name}（{item_id}）{boxes} 盒，超过 {max_boxes} 盒（{day_first} 至 {day_last} 共 {qty} 个最小单位，{n} 次结算，{n_stores} 家门店）；本店医保基金及个人账户支付 {amount_fen} 元
-- message_en: person {psn_no} bought up to {boxes} boxes of {item_name} ({item_id}) within {window_days} days, above {max_boxes} boxes ({qty} units in {n} settlements at {n_stores} store(s) between {day_first} and {day_last}); insurance paid {amount_fen} yuan here
-- param window_days = 30  # length of the rolling window, days
-- param_zh window_days: 滚动窗口长度，天
-- param max_boxes = 12  # boxes of one drug one person may buy within the window (12 weeks' long prescription at one box a week)
-- param_zh max_boxes: 同一人在窗口内可购买同一药品的盒数（长处方 12 周，每周 1 盒）
-- param high_factor = 2.0  # high severity when the boxes reach this many times max_boxes
-- param_zh high_factor: 盒数达到 max_boxes 的这么多倍记为高严重程度
WITH valid AS (
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.epoch, s.day, s.medfee_fen, s.insurance_fen FROM v_settlement s
    WHERE s.psn_no IS NOT NULL AND s.psn_no <> ''
), bx AS (
    -- boxes of every line of a standing settlement, with only what the windows need (the
    -- lines the findings show are read again for the few windows found, in ep)
    SELECT v.psn_no, l.item_id, v.epoch, l.qty * 1.0 / COALESCE(o.convrat, g.convrat, 1) AS boxes
    FROM settlement_lines l
    JOIN valid v ON v.setl_id = l.setl_id AND v.store = l.store
    LEFT JOIN items o ON o.store = l.store AND o.item_id = l.item_id
    LEFT JOIN items g ON g.store = '' AND g.item_id = l.item_id
    WHERE l.deleted = 0 AND l.qty IS NOT NULL AND l.qty > 0 AND l.item_id IS NOT NULL
), heavy AS (
    -- persons above max_boxes over all their items (one grouping per person, far fewer
    -- groups than per person and item)
    SELECT psn_no FROM bx GROUP BY psn_no HAVING SUM(CASE WHEN boxes > 0 THEN boxes ELSE 0 END) > :max_boxes
), enough AS (
    -- a window's sum is at most the sum of the person's positive quantities of the item in
    -- all time: the rolling sums are taken only where that is above max_boxes
    SELECT psn_no, item_id FROM bx WHERE psn_no IN (SELECT psn_no FROM heavy) GROUP BY psn_no, item_id
    HAVING SUM(CASE WHEN boxes > 0 THEN boxes ELSE 0 END) > :max_boxes
), rolled AS (
    SELECT bx.psn_no, bx.item_id, bx.epoch, SUM(boxes) OVER (PARTITION BY psn_no, item_id ORDER BY epoch
                                  RANGE BETWEEN :window_days * 86400 PRECEDING AND CURRENT ROW) AS roll
    FROM bx WHERE EXISTS (SELECT 1 FROM enough e WHERE e.psn_no = bx.psn_no AND e.item_id = bx.item_id)
), trig AS (
    SELECT psn_no, item_id, MIN(epoch) AS t0, MAX(epoch) AS t1, MAX(roll) AS peak
    FROM rolled WHERE roll > :max_boxes + 0.001
    GROUP BY psn_no, item_id
), ep AS (
    -- the lines of the windows found: their settlements by person and time, then their lines
    SELECT l.id, l.store, l.setl_id, v.psn_no, l.item_id, COALESCE(l.item_name, o.item_name, g.item_name) AS item_name,
           v.day, v.id AS s_row, l.qty, t.peak,
           CASE WHEN COALESCE(v.medfee_fen, 0) > 0 AND l.amount_fen IS NOT NULL
                THEN COALESCE(v.insurance_fen, 0) * 1.0 * l.amount_fen / v.medfee_fen
                ELSE COALESCE(l.amount_fen, 0) END AS ins_fen
    FROM trig t
    JOIN v_settlement v ON v.psn_no = t.psn_no AND v.epoch >= t.t0 - :window_days * 86400 AND v.epoch <= t.t1
    JOIN settlement_lines l ON l.setl_id = v.setl_id AND l.store = v.store AND l.item_id = t.item_id
    LEFT JOIN items o ON o.store = l.store AND o.item_id = l.item_id
    LEFT JOIN items g ON g.store = '' AND g.item_id = l.item_id
    WHERE l.deleted = 0 AND l.qty IS NOT NULL AND l.qty > 0
), tot AS (
    SELECT psn_no, item_id, MAX(item_name) AS item_name, COUNT(DISTINCT setl_id) AS n, COUNT(DISTINCT store) AS n_stores,
           SUM(qty) AS qty, MAX(peak) AS peak, MIN(day) AS day_first, MAX(day) AS day_last,
           GROUP_CONCAT(DISTINCT setl_id) AS setl_ids, GROUP_CONCAT(DISTINCT 'settlements:' || s_row) AS ev_s,
           GROUP_CONCAT('settlement_lines:' || id) AS ev_l
    FROM ep GROUP BY psn_no, item_id
), here AS (
    SELECT psn_no, item_id, store, SUM(ins_fen) AS amount_fen FROM ep GROUP BY psn_no, item_id, store
)
SELECT h.store, t.psn_no, t.psn_no AS psn_nos, t.item_id, t.item_id AS items, t.item_name, t.n, t.n_stores, t.qty,
       CAST(ROUND(t.peak) AS INTEGER) AS boxes, :max_boxes AS max_boxes, :window_days AS window_days,
       t.day_first, t.day_last, CAST(ROUND(h.amount_fen) AS INTEGER) AS amount_fen, t.setl_ids,
       t.ev_s || ',' || t.ev_l AS evidence,
       CASE WHEN t.peak >= :high_factor * :max_boxes THEN 'high' ELSE 'medium' END AS severity
FROM tot t JOIN here h ON h.psn_no = t.psn_no AND h.item_id = t.item_id
ORDER BY h.store, t.psn_no, t.item_id
