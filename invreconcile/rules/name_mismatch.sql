-- id: name_mismatch
-- category: substitution
-- severity: medium
-- title_zh: 医保结算品名与收银销售品名不符
-- title_en: Name billed to insurance differs from the name sold at the till
-- why_zh: 同一笔结算里，医保上传的是药品甲，收银系统卖出的却是另一种商品（常见为化妆品、食品、器械等非医保商品），是串换药品的直接证据。品名写法不同（规格写法、括号、全角）由名称匹配先行归一，可在 name_map 表中人工复核和改判。
-- why_en: In one settlement, insurance was billed for drug A while the till sold something else (often cosmetics, food, devices): direct evidence of substitution. Different spellings of the same product (spec notation, brackets, full-width) are matched first; the name_map table can be reviewed and overridden.
-- message_zh: 结算 {setl_id} 向医保申报 {insurance_name}，收银系统同一结算卖出的是 {till_names}（名称相似度最高 {best_score}）
-- message_en: settlement {setl_id} billed insurance for {insurance_name} while the till sold {till_names} under the same settlement (best name score {best_score})
WITH lines AS (
    SELECT l.* FROM settlement_lines l
    WHERE l.deleted = 0
      AND NOT EXISTS (SELECT 1 FROM settlements r WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id = l.setl_id AND r.store = l.store)
      AND EXISTS (SELECT 1 FROM sales s WHERE s.setl_id = l.setl_id AND s.store = l.store AND s.deleted = 0 AND s.is_return = 0)
      AND NOT EXISTS (SELECT 1 FROM sales s WHERE s.setl_id = l.setl_id AND s.store = l.store AND s.deleted = 0
                      AND s.is_return = 0 AND s.item_id = l.item_id)
      AND NOT EXISTS (SELECT 1 FROM sales s JOIN name_map n ON n.store = s.store AND n.till_name = s.item_name
                      AND n.insurance_name = l.item_name AND n.verdict = 'match'
                      WHERE s.setl_id = l.setl_id AND s.store = l.store AND s.deleted = 0 AND s.is_return = 0)
), keyed AS (
    SELECT DISTINCT setl_id, store FROM lines
), till AS (
    -- what the till sold under those settlements only (returns not counted)
    SELECT k.setl_id, k.store, GROUP_CONCAT(DISTINCT s.item_id) AS items, GROUP_CONCAT(DISTINCT s.item_name) AS till_names
    FROM keyed k JOIN sales s ON s.setl_id = k.setl_id AND s.store = k.store AND s.deleted = 0 AND s.is_return = 0
    GROUP BY k.setl_id, k.store
), till_refs AS (
    SELECT k.setl_id, k.store, GROUP_CONCAT('sales:' || s.id) AS refs
    FROM keyed k JOIN sales s ON s.setl_id = k.setl_id AND s.store = k.store AND s.deleted = 0
    GROUP BY k.setl_id, k.store
), money AS (
    SELECT m.id, SUM(m.insured_fen) AS insured_fen FROM v_line_money m WHERE m.id IN (SELECT id FROM lines) GROUP BY m.id
)
SELECT l.store, l.day AS day_first, l.setl_id, l.setl_id AS setl_ids, l.psn_no AS psn_nos, l.item_name AS insurance_name,
       l.item_id || ',' || t.items AS items, t.till_names,
       COALESCE((SELECT MAX(n.score) FROM name_map n JOIN sales s ON s.item_name = n.till_name AND s.store = n.store
                 WHERE n.insurance_name = l.item_name AND n.store = l.store AND s.setl_id = l.setl_id), 0) AS best_score,
       CAST(COALESCE(m.insured_fen, 0) AS INTEGER) AS amount_fen,
       'settlement_lines:' || l.id || ',' || r.refs AS evidence
FROM lines l
JOIN till t ON t.setl_id = l.setl_id AND t.store = l.store
JOIN till_refs r ON r.setl_id = l.setl_id AND r.store = l.store
LEFT JOIN money m ON m.id = l.id
