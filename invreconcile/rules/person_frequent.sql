-- id: person_frequent
-- category: abnormal_swipe
-- severity: medium
-- title_zh: 同一人频繁刷卡（单日/单月次数过多）
-- title_en: One card settled too many times a day or a month
-- why_zh: 上海等地规定定点药店原则上同一参保人每天只能刷卡购药一次。同一张卡在同一门店一天内结算多次、或一个月内结算远多于正常复购次数，常见于代刷卡、冒用医保卡或把一次购药拆成多笔。
-- why_zh: 为避免误报：一天三次以内（家属也来买、漏买补买）不报；慢病患者每月复购一两次远低于月度阈值；已冲销的结算不计。
-- why_en: Rules such as Shanghai's allow in principle one card sale per person per day at a pharmacy. One card settled many times a day at one store, or far more often in a month than any refill rhythm explains, is typical of cards swiped by staff, borrowed cards, or one purchase split into several.
-- why_en: To avoid false alarms: up to three settlements in a day (a family member buying too, a forgotten item) are not reported; chronic patients refilling monthly stay far below the monthly limit; reversed settlements do not count.
-- message_zh: 参保人 {psn_no} 在 {store} {scope_zh} {period_text} 结算 {n} 次（阈值 {limit_n} 次），涉及医保基金 {amount_fen} 元
-- message_en: person {psn_no} settled {n} times at {store} {scope_en} {period_text} (limit {limit_n}); insurance money {amount_fen} yuan
-- param day_max = 3  # settlements per person per store per day still accepted (Shanghai: 1 in principle; up to 3 tolerates a family member buying too and a forgotten item)
-- param_zh day_max: 同一人每天在同一门店可接受的结算笔数（上海原则上 1 笔；放宽到 3 笔以容许家属代购和漏买）
-- param day_high = 5  # from this many settlements in one day the finding is high severity
-- param_zh day_high: 一天达到这么多笔记为高严重程度
-- param month_max = 10  # settlements per person per store per calendar month still accepted (a monthly refill is 1-2; 10 is every third day)
-- param_zh month_max: 同一人每个自然月在同一门店可接受的结算笔数（每月配药 1-2 次；10 次即每三天一次）
WITH valid AS (
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.month, s.day, s.insurance_fen FROM v_settlement s
    WHERE s.psn_no IS NOT NULL AND s.psn_no <> ''
), per_day AS (
    -- counts first; the lists below are built for the persons reported only
    SELECT store, psn_no, day AS period_text, MIN(day) AS day_first, MAX(day) AS day_last, COUNT(*) AS n,
           :day_max AS limit_n, '当日' AS scope_zh, 'on' AS scope_en,
           CASE WHEN COUNT(*) >= :day_high THEN 'high' ELSE 'medium' END AS severity,
           SUM(COALESCE(insurance_fen, 0)) AS amount_fen
    FROM valid GROUP BY store, psn_no, day
    HAVING COUNT(*) > :day_max
), per_month AS (
    SELECT store, psn_no, month AS period_text, MIN(day) AS day_first, MAX(day) AS day_last, COUNT(*) AS n,
           :month_max AS limit_n, '当月' AS scope_zh, 'in month' AS scope_en, 'medium' AS severity,
           SUM(COALESCE(insurance_fen, 0)) AS amount_fen
    FROM valid GROUP BY store, psn_no, month
    HAVING COUNT(*) > :month_max
)
SELECT p.store AS store, p.psn_no AS psn_no, p.psn_no AS psn_nos, p.period_text AS period, p.period_text AS period_text,
       p.day_first AS day_first, p.day_last AS day_last, p.n AS n, p.limit_n AS limit_n, p.scope_zh AS scope_zh,
       p.scope_en AS scope_en, p.severity AS severity, p.amount_fen AS amount_fen,
       GROUP_CONCAT(s.setl_id) AS setl_ids, GROUP_CONCAT('settlements:' || s.id) AS evidence
FROM per_day p JOIN v_settlement s ON s.psn_no = p.psn_no AND s.store = p.store AND s.day = p.period_text
GROUP BY p.store, p.psn_no, p.period_text, p.day_first, p.day_last, p.n, p.limit_n, p.scope_zh, p.scope_en, p.severity,
         p.amount_fen
UNION ALL
SELECT p.store, p.psn_no, p.psn_no, p.period_text, p.period_text, p.day_first, p.day_last, p.n,
       p.limit_n, p.scope_zh, p.scope_en, p.severity, p.amount_fen,
       GROUP_CONCAT(s.setl_id), GROUP_CONCAT('settlements:' || s.id)
FROM per_month p JOIN v_settlement s ON s.psn_no = p.psn_no AND s.store = p.store AND s.month = p.period_text
GROUP BY p.store, p.psn_no, p.period_text, p.day_first, p.day_last, p.n, p.limit_n, p.scope_zh, p.scope_en, p.severity,
         p.amount_fen
ORDER BY store, psn_no, period
