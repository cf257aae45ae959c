-- id: swipe_refund_cycle
-- category: abnormal_swipe
-- severity: high
-- title_zh: 刷卡后短时间内退费，反复发生
-- title_en: Swipe then refund within minutes, repeated
-- why_zh: 结算后几分钟内冲销（2103），一次可能是收错了；同一人在同一门店反复“刷卡-退费”，常见于用医保卡套现（冲销后退现金或换非医保商品）、刷单凑指标，或同一盒药反复结算（执法案例：一种药两个月内循环刷退14次）。
-- why_zh: 单次冲销不报；两次为中风险，三次及以上为高风险。这里的结算虽然已冲销，仍是本规则的证据；涉及金额为这些结算的医保基金及个人账户支付合计（资金曾经流转的金额）。
-- why_en: A settlement reversed (2103) minutes later may be a cashier's mistake once; the same person doing settle-then-reverse again and again at one store is typical of cashing out the card (refund paid in cash or in non-covered goods), of padding figures, or of cycling one box through settlement (an enforcement case: one drug cycled 14 times in two months).
-- why_en: A single reversal is not reported; two cycles are medium severity, three or more high. These settlements were reversed but are the evidence here; the amount is what the fund and the personal account paid on them (money that moved).
-- message_zh: 参保人 {psn_no} 在 {store} 于 {day_first} 至 {day_last} 有 {n} 次结算在 {window_min} 分钟内被冲销（最短 {min_gap} 秒），结算金额合计 {total_fen} 元，医保基金及个人账户支付 {amount_fen} 元
-- message_en: person {psn_no} had {n} settlements at {store} reversed within {window_min} minutes (fastest after {min_gap} s) between {day_first} and {day_last}; {total_fen} yuan settled, insurance paid {amount_fen} yuan
-- param window_min = 10  # a reversal this many minutes or less after its settlement counts as a swipe-refund (Shanghai: 10 minutes)
-- param_zh window_min: 结算后这么多分钟内冲正算一次刷卡后退费（上海：10 分钟）
-- param min_cycles = 2  # swipe-refunds of one person at one store needed for a finding
-- param_zh min_cycles: 同一人在同一门店刷卡后退费达到这么多次才报
-- param high_cycles = 3  # from this many swipe-refunds the finding is high severity
-- param_zh high_cycles: 达到这么多次记为高严重程度
WITH cyc AS (
    SELECT o.store, o.psn_no, o.setl_id, o.id AS o_row, r.setl_id AS r_setl, r.id AS r_row, o.day, o.epoch,
           r.epoch - o.epoch AS gap, COALESCE(o.medfee_fen, o.insurance_fen, 0) AS total_fen,
           COALESCE(o.insurance_fen, 0) AS ins_fen
    FROM settlements o
    JOIN settlements r ON r.orig_setl_id = o.setl_id AND r.store = o.store AND r.is_reversal = 1 AND r.deleted = 0
    WHERE o.is_reversal = 0 AND o.deleted = 0 AND o.psn_no IS NOT NULL AND o.psn_no <> ''
      AND o.epoch IS NOT NULL AND r.epoch IS NOT NULL
      AND r.epoch >= o.epoch AND r.epoch - o.epoch <= :window_min * 60
), its AS (
    SELECT DISTINCT c.store, c.psn_no, l.item_id FROM cyc c
    JOIN settlement_lines l ON l.setl_id = c.setl_id AND l.store = c.store AND l.deleted = 0
), person_items AS (
    -- per person, joined below (a correlated subquery in an aggregate's SELECT list does not run on Spark)
    SELECT store, psn_no, GROUP_CONCAT(item_id) AS items FROM its GROUP BY store, psn_no
)
SELECT c.store, c.psn_no, c.psn_no AS psn_nos, COUNT(*) AS n, MIN(c.day) AS day_first, MAX(c.day) AS day_last,
       MIN(c.gap) AS min_gap, :window_min AS window_min, SUM(c.total_fen) AS total_fen, SUM(c.ins_fen) AS amount_fen,
       GROUP_CONCAT(c.setl_id || ',' || c.r_setl) AS setl_ids,
       GROUP_CONCAT('settlements:' || c.o_row || ',settlements:' || c.r_row) AS evidence,
       MAX(pi.items) AS items,
       CASE WHEN COUNT(*) >= :high_cycles THEN 'high' ELSE 'medium' END AS severity
FROM cyc c
LEFT JOIN person_items pi ON pi.store = c.store AND pi.psn_no = c.psn_no
GROUP BY c.store, c.psn_no
HAVING COUNT(*) >= :min_cycles
ORDER BY c.store, c.psn_no
