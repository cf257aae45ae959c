-- id: card_collection
-- category: abnormal_swipe
-- severity: high
-- title_zh: 集中刷卡（几分钟内同一门店连刷多张医保卡）
-- title_en: Card collection: many different cards within minutes at one store
-- why_zh: 收集多人的医保卡后由店员集中连续刷卡（聚集刷卡），平均每张卡只用几十秒，远快于真实顾客排队、审方、扫追溯码和付款所需的时间。判定：同一门店任意 window_sec 秒内至少 min_cards 笔结算（相互重叠的时段合并为一次），且涉及至少 min_cards 张不同的卡。
-- why_zh: 早高峰顾客多时每位顾客也要一两分钟，5分钟内到不了8人，不报。有多个收银台的大店可调高 min_cards。已冲销的结算不计。
-- why_en: Cards collected from many people and swiped by staff one after another take tens of seconds per card, far faster than real customers can queue, have a prescription checked, get their trace codes scanned and pay. Rule: at least min_cards settlements at one store within any window_sec seconds (overlapping windows merge into one burst), covering at least min_cards different cards.
-- why_en: On a busy morning each customer still takes a minute or two, so 8 do not fit in 5 minutes; not reported. Raise min_cards for big stores with several counters. Reversed settlements do not count.
-- message_zh: {store} 于 {first_ts} 至 {last_ts}（{span_min} 分钟）连续结算 {n} 笔，涉及 {n_psn} 张不同医保卡，平均每笔间隔 {avg_gap} 秒，共 {n_items} 个品种；医保基金及个人账户支付 {amount_fen} 元
-- message_en: {store} settled {n} times for {n_psn} different cards between {first_ts} and {last_ts} ({span_min} min, {avg_gap} s apart on average, {n_items} distinct item(s)); insurance paid {amount_fen} yuan
-- param window_sec = 300  # length of the sliding window, seconds (5 minutes)
-- param_zh window_sec: 滑动窗口长度，秒（5 分钟）
-- param min_cards = 8  # settlements and different cards within the window needed for a finding (8 in 5 minutes: under 40 s per card; a real customer at one counter takes 1-2 minutes)
-- param_zh min_cards: 窗口内至少有这么多笔结算、这么多张不同医保卡才报（5 分钟 8 张：每张卡不到 40 秒；真实顾客在一个收银台要 1-2 分钟）
WITH valid AS (
    -- only the columns used below: the windows copy every column of their input
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.epoch, s.ts, s.day, s.insurance_fen FROM v_settlement s
), fwd AS (
    -- settlements in [this one, this one + window]
    SELECT valid.*, COUNT(*) OVER (PARTITION BY store ORDER BY epoch
                                   RANGE BETWEEN CURRENT ROW AND :window_sec FOLLOWING) AS n_fwd
    FROM valid
), cover AS (
    -- the end of the latest dense window that started at or before this settlement
    SELECT fwd.*, MAX(CASE WHEN n_fwd >= :min_cards THEN epoch + :window_sec END)
                      OVER (PARTITION BY store ORDER BY epoch
                            RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cover_end
    FROM fwd
), dense AS (
    SELECT cover.*, LAG(epoch) OVER (PARTITION BY store ORDER BY epoch, id) AS prev_epoch
    FROM cover WHERE cover_end >= epoch
), grp AS (
    SELECT dense.*,
           SUM(CASE WHEN prev_epoch IS NULL OR epoch - prev_epoch > :window_sec THEN 1 ELSE 0 END)
               OVER (PARTITION BY store ORDER BY epoch, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS g
    FROM dense
), bursts AS (
    SELECT store, g, COUNT(*) AS n, COUNT(DISTINCT psn_no) AS n_psn, MIN(ts) AS first_ts, MAX(ts) AS last_ts,
           MIN(epoch) AS e0, MAX(epoch) AS e1, MIN(day) AS day_first, MAX(day) AS day_last,
           SUM(COALESCE(insurance_fen, 0)) AS amount_fen, GROUP_CONCAT(setl_id) AS setl_ids,
           GROUP_CONCAT(DISTINCT psn_no) AS psn_nos, GROUP_CONCAT('settlements:' || id) AS evidence
    FROM grp GROUP BY store, g
    HAVING COUNT(DISTINCT psn_no) >= :min_cards
), its AS (
    SELECT b.store, b.g, COUNT(DISTINCT l.item_id) AS n_items, GROUP_CONCAT(DISTINCT l.item_id) AS items
    FROM bursts b
    JOIN grp s ON s.store = b.store AND s.g = b.g
    JOIN settlement_lines l ON l.setl_id = s.setl_id AND l.store = s.store AND l.deleted = 0
    GROUP BY b.store, b.g
)
SELECT b.store, b.n, b.n_psn, b.first_ts, b.last_ts, b.day_first, b.day_last,
       CAST(((b.e1 - b.e0) - (b.e1 - b.e0) % 60) / 60 AS INTEGER) AS span_min, CAST(ROUND((b.e1 - b.e0) * 1.0 / (b.n - 1)) AS INTEGER) AS avg_gap,
       COALESCE(i.n_items, 0) AS n_items, i.items, b.amount_fen, b.setl_ids, b.psn_nos, b.evidence
FROM bursts b LEFT JOIN its i ON i.store = b.store AND i.g = b.g
ORDER BY b.store, b.first_ts
